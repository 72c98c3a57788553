/**
 * A binary Merkle tree over SHA-256 hashes, with inclusion proofs.
 *
 * Domain separation follows RFC 6962 (Certificate Transparency): a leaf hashes `0x00 || leaf`, an
 * inner node `0x01 || left || right`, so a leaf can never be passed off as an inner node. An odd
 * node at the end of a level is promoted unchanged rather than duplicated, which avoids the
 * duplicate-leaf ambiguity of Bitcoin's tree (CVE-2012-2459).
 *
 * @module
 */

import { VerificationError } from "../core/errors.ts";
import { concatBytes, fromHex, type Hash, isHash, sha256, toHex } from "../core/hash.ts";

/** One sibling on the path from a leaf to the root. */
export interface ProofStep {
  /** Which side the sibling is on. */
  readonly side: "left" | "right";
  /** The sibling's hash. */
  readonly hash: Hash;
}

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

async function leafHash(leaf: Hash): Promise<Uint8Array> {
  return await sha256(concatBytes([LEAF, fromHex(leaf)]));
}

async function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return await sha256(concatBytes([NODE, left, right]));
}

function checkLeaves(leaves: readonly Hash[]): void {
  if (leaves.length === 0) {
    throw new VerificationError("VERIFY_EMPTY_TREE", "a Merkle tree needs at least one leaf");
  }
  const bad = leaves.find((l) => !isHash(l));
  if (bad !== undefined) {
    throw new VerificationError("VERIFY_BAD_LEAF", `Merkle leaf "${bad}" is not a SHA-256 hex`, {
      value: bad,
    });
  }
}

async function levels(leaves: readonly Hash[]): Promise<Uint8Array[][]> {
  checkLeaves(leaves);
  const out: Uint8Array[][] = [await Promise.all(leaves.map(leafHash))];
  while (out[out.length - 1].length > 1) {
    const level = out[out.length - 1];
    const next: Promise<Uint8Array>[] = [];
    for (let i = 0; i < level.length; i += 2) {
      next.push(
        i + 1 < level.length ? nodeHash(level[i], level[i + 1]) : Promise.resolve(level[i]),
      );
    }
    out.push(await Promise.all(next));
  }
  return out;
}

/**
 * Root of the tree over `leaves` (hex hashes, in order).
 *
 * @example
 * ```ts
 * import { merkleRoot } from "./merkle.ts";
 * const root = await merkleRoot(["aa".repeat(32), "bb".repeat(32)]);
 * ```
 */
export async function merkleRoot(leaves: readonly Hash[]): Promise<Hash> {
  const all = await levels(leaves);
  return toHex(all[all.length - 1][0]);
}

/**
 * Inclusion proof of leaf `index`: the siblings from the leaf up to the root.
 *
 * @example
 * ```ts
 * import { merkleProof, merkleRoot, verifyMerkleProof } from "./merkle.ts";
 * const leaves = ["aa".repeat(32), "bb".repeat(32), "cc".repeat(32)];
 * const proof = await merkleProof(leaves, 2);
 * console.log(await verifyMerkleProof(await merkleRoot(leaves), leaves[2], proof)); // true
 * ```
 */
export async function merkleProof(leaves: readonly Hash[], index: number): Promise<ProofStep[]> {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new VerificationError(
      "VERIFY_BAD_INDEX",
      `leaf index ${index} is outside the tree of ${leaves.length} leaves`,
      { value: index },
    );
  }
  const all = await levels(leaves);
  const proof: ProofStep[] = [];
  let i = index;
  for (const level of all.slice(0, -1)) {
    const sibling = i % 2 === 0 ? i + 1 : i - 1;
    if (sibling < level.length) {
      proof.push({ side: i % 2 === 0 ? "right" : "left", hash: toHex(level[sibling]) });
    }
    i = Math.floor(i / 2);
  }
  return proof;
}

/** True if `proof` shows `leaf` under `root`. */
export async function verifyMerkleProof(
  root: Hash,
  leaf: Hash,
  proof: readonly ProofStep[],
): Promise<boolean> {
  if (!isHash(root) || !isHash(leaf) || proof.some((p) => !isHash(p.hash))) return false;
  let node = await leafHash(leaf);
  for (const step of proof) {
    const sibling = fromHex(step.hash);
    node = step.side === "left" ? await nodeHash(sibling, node) : await nodeHash(node, sibling);
  }
  return toHex(node) === root;
}
