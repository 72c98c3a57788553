import assert from "node:assert/strict";
import fc from "fast-check";
import { VerificationError } from "../../lib/core/errors.ts";
import { sha256Hex } from "../../lib/core/hash.ts";
import { merkleProof, merkleRoot, verifyMerkleProof } from "../../lib/proof/merkle.ts";

const leavesArb = fc.array(fc.uint8Array({ minLength: 1, maxLength: 8 }), {
  minLength: 1,
  maxLength: 20,
}).map((arrays) => Promise.all(arrays.map((a) => sha256Hex(a))));

Deno.test("merkle tree", async (t) => {
  await t.step("every leaf's proof verifies; a wrong leaf or root does not", async () => {
    await fc.assert(
      fc.asyncProperty(leavesArb, fc.nat(), async (leavesP, pick) => {
        const leaves = await leavesP;
        const root = await merkleRoot(leaves);
        const i = pick % leaves.length;
        const proof = await merkleProof(leaves, i);
        assert.ok(await verifyMerkleProof(root, leaves[i], proof));
        const other = await sha256Hex(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
        assert.ok(!(await verifyMerkleProof(root, other, proof)));
        assert.ok(!(await verifyMerkleProof(other, leaves[i], proof)));
      }),
      { numRuns: 100 },
    );
  });

  await t.step("the root depends on leaf order, and a leaf is not an inner node", async () => {
    const [a, b] = [await sha256Hex(new Uint8Array([1])), await sha256Hex(new Uint8Array([2]))];
    assert.notEqual(await merkleRoot([a, b]), await merkleRoot([b, a]));
    assert.notEqual(await merkleRoot([a]), a);
    assert.notEqual(await merkleRoot([a, b, a]), await merkleRoot([a, b, a, a]));
  });

  await t.step("bad input is a typed error", async () => {
    await assert.rejects(() => merkleRoot([]), VerificationError);
    await assert.rejects(() => merkleRoot(["xyz"]), VerificationError);
    await assert.rejects(() => merkleProof(["aa".repeat(32)], 1), VerificationError);
  });
});
