import assert from "node:assert/strict";
import type { Hex } from "viem";
import { toBytes32 } from "../../../lib/core/hash.ts";
import { opChain as protocolOpChain } from "../../../lib/proof/bisect.ts";
import { merkleProof, verifyMerkleProof } from "../../../lib/proof/merkle.ts";
import {
  checkpointProof,
  commitTrace,
  extendsChain,
  honestRuling,
  INITIAL_STATE,
  madeUp,
  opChain,
  OPS,
  opsFor,
  type RefereeView,
  stateAt,
  trueOps,
  trueState,
} from "../../../testing/chain_fuzz/world.ts";

const JOB: Hex = `0x${"11".repeat(32)}`;
const ZERO: Hex = `0x${"00".repeat(32)}`;
const honest = { jobId: JOB, deviateAt: null, tag: "honest" };
const bad = (deviateAt: number) => ({ jobId: JOB, deviateAt, tag: "bad" });

Deno.test("the fuzz's op chain and trace commitment are the protocol's", async () => {
  const ops = trueOps(JOB, 7);
  for (let n = 0; n <= OPS + 1; n++) {
    const theirs = protocolOpChain(ops.map((o) => o.slice(2)), n);
    assert.equal(opChain(ops, n), toBytes32(theirs), `prefix ${n}`);
  }
  const c = await commitTrace(bad(40));
  assert.equal(c.finalStateHash, stateAt(bad(40), 64));
  const leaves = c.leaves.map((l) => l.slice(2));
  for (const [i, leaf] of leaves.entries()) {
    const proof = await merkleProof(leaves, i);
    assert.deepEqual(await checkpointProof(c, i), proof.map((p) => toBytes32(p.hash)));
    assert.ok(await verifyMerkleProof(c.traceRoot.slice(2), leaf, proof), `leaf ${i}`);
  }
});

Deno.test("each party's records follow its claimed run", () => {
  assert.deepEqual(opsFor(honest, 10, 0), trueOps(JOB, 10));
  // The step that goes wrong keeps the true records up to `forgeAt`...
  const faulty = opsFor(bad(11), 10, 2);
  assert.deepEqual(faulty.slice(0, 2), trueOps(JOB, 10).slice(0, 2));
  assert.notEqual(faulty[2], trueOps(JOB, 10)[2]);
  // ... or all of them, when only the claimed output differs.
  assert.deepEqual(opsFor(bad(11), 10, OPS), trueOps(JOB, 10));
  // A step from a wrong state differs from its first record.
  assert.notEqual(opsFor(bad(11), 20, 2)[0], trueOps(JOB, 20)[0]);
  assert.deepEqual(opsFor(bad(11), 5, 0), trueOps(JOB, 5));
});

Deno.test("an honest committee rules for whoever tells the truth at the disputed point", async (t) => {
  const truth = trueOps(JOB, 9);
  const forged = opsFor(bad(10), 9, 2);
  const at = (lo: number, provider: readonly Hex[], challenger: readonly Hex[]): RefereeView => ({
    kind: "Execution",
    step: 9,
    lo,
    hi: lo + 1,
    loHash: opChain(challenger, lo),
    hiProvider: opChain(provider, lo + 1),
    hiChallenger: opChain(challenger, lo + 1),
  });
  const cases: {
    name: string;
    view: RefereeView;
    known: Parameters<typeof honestRuling>[1];
    ruling?: string;
    ops?: [Hex, Hex];
  }[] = [
    {
      name: "availability: served",
      view: { ...at(0, truth, truth), kind: "Availability" },
      known: { jobId: JOB, serves: true },
      ruling: "Provider",
    },
    {
      name: "availability: withheld",
      view: { ...at(0, truth, truth), kind: "Availability" },
      known: { jobId: JOB, serves: false },
      ruling: "Challenger",
    },
    {
      name: "initial state: the provider's is the spec's",
      view: {
        ...at(0, truth, truth),
        step: INITIAL_STATE,
        hi: 0,
        hiProvider: trueState(JOB, 0),
        hiChallenger: madeUp("init"),
      },
      known: { jobId: JOB, serves: true },
      ruling: "Provider",
    },
    {
      name: "initial state: neither is",
      view: {
        ...at(0, truth, truth),
        step: INITIAL_STATE,
        hi: 0,
        hiProvider: madeUp("a"),
        hiChallenger: madeUp("b"),
      },
      known: { jobId: JOB, serves: true },
      ruling: "Both",
    },
    {
      name: "identical records: the true output wins",
      view: { ...at(OPS, truth, truth), hi: OPS },
      known: {
        jobId: JOB,
        serves: true,
        claims: { provider: madeUp("p"), challenger: trueState(JOB, 10) },
      },
      ruling: "Challenger",
    },
    {
      name: "identical records: no claims known",
      view: { ...at(OPS, truth, truth), hi: OPS },
      known: { jobId: JOB, serves: true },
    },
    {
      name: "a forged op loses to the true one",
      view: at(2, forged, truth),
      known: { jobId: JOB, serves: true, providerOps: forged, challengerOps: truth },
      ruling: "Challenger",
      ops: [forged[2], truth[2]],
    },
    {
      name: "a record its own chain does not commit to never wins",
      view: { ...at(2, truth, forged), hiProvider: madeUp("posted") },
      known: { jobId: JOB, serves: true, providerOps: truth, challengerOps: forged },
      ruling: "Both",
      ops: [truth[2], forged[2]],
    },
    {
      name: "an extra record loses to none",
      view: at(OPS, truth, [...truth, madeUp("extra")]),
      known: {
        jobId: JOB,
        serves: true,
        providerOps: truth,
        challengerOps: [...truth, madeUp("extra")],
      },
      ruling: "Provider",
      ops: [ZERO, madeUp("extra")],
    },
    {
      name: "records unknown",
      view: at(2, forged, truth),
      known: { jobId: JOB, serves: true },
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const vote = honestRuling(c.view, c.known);
      assert.equal(vote?.ruling, c.ruling);
      if (c.ops) assert.deepEqual([vote?.providerOp, vote?.challengerOp], c.ops);
      // A ruling for a party always passes the contract's consistency check.
      if (
        vote?.ruling === "Provider" && c.view.kind === "Execution" && c.view.hi === c.view.lo + 1
      ) {
        assert.ok(extendsChain(c.view.loHash, vote.providerOp, c.view.hiProvider));
      }
      if (
        vote?.ruling === "Challenger" && c.view.kind === "Execution" && c.view.hi === c.view.lo + 1
      ) {
        assert.ok(extendsChain(c.view.loHash, vote.challengerOp, c.view.hiChallenger));
      }
    });
  }
});
