import assert from "node:assert/strict";
import { DIST_PROTOCOL, DistWorker } from "../../lib/diloco/worker.ts";
import { defineModel } from "../../lib/exec/model.ts";
import { loadMnist } from "../../lib/exec/mnist.ts";
import { mlp } from "../../lib/exec/zoo.ts";
import { createHost, type P2PHost } from "../../lib/p2p/host.ts";
import { literal, object, str, union } from "../../lib/p2p/schema.ts";

const dataset = await loadMnist({ limit: 512 });
const spec = await defineModel(mlp({ hidden: [8] }), { seed: 5 });
const replySchema = union({
  ok: object({ t: literal("ok") }),
  err: object({ t: literal("err"), code: str(64), message: str(4096) }),
});

Deno.test("DistWorker at the wire boundary", async (t) => {
  const rejections: string[] = [];
  const options = {
    spec,
    dataset,
    shards: 2,
    batchSize: 16,
    innerSteps: 2,
    onReject: (code: string) => rejections.push(code),
  };
  await using a = await DistWorker.start({ ...options, id: 0 });
  await using b = await DistWorker.start({ ...options, id: 1, bootstrap: [a.rosterEntry.addr] });
  const roster = new Map([[0, a.rosterEntry], [1, b.rosterEntry]]);
  a.setRoster(roster);
  b.setRoster(roster);
  const delta = (extra: Record<string, unknown>) => ({
    t: "delta",
    round: 0,
    worker: 1,
    encoding: "int8",
    blockSize: 256,
    bytes: 4,
    ...extra,
  });

  await t.step("bad requests get a typed error frame and the worker keeps serving", async () => {
    await using stranger = await createHost({ onReject: () => {} });
    const cases: [P2PHost, unknown, string][] = [
      [stranger, delta({}), "PEER_UNKNOWN"],
      [b.host, { t: "bogus" }, "PEER_MALFORMED"],
      [b.host, delta({ round: 7 }), "PEER_WRONG_ROUND"],
      [b.host, delta({ bytes: 1 << 29 }), "PEER_OVERSIZED"],
    ];
    for (const [host, request, code] of cases) {
      const framed = await host.open(a.rosterEntry.addr, DIST_PROTOCOL);
      await framed.write(request);
      const reply = await framed.readOne(replySchema);
      assert.equal(reply.t === "err" ? reply.code : reply.t, code);
      await framed.close().catch(() => {
        // The worker closes its side after the error frame; nothing left to close.
      });
    }
  });

  await t.step("a normal round still completes between the two", async () => {
    const members = [0, 1];
    await a.train(members);
    await b.train(members);
    await Promise.all([a.send(members), b.send(members)]);
    await Promise.all([a.collect(members, 10_000), b.collect(members, 10_000)]);
    await Promise.all([a.exchange(members, 10_000), b.exchange(members, 10_000)]);
    const [da, db] = [await a.aggregate(members), await b.aggregate(members)];
    assert.deepEqual(da.counted, [0, 1]);
    assert.equal(da.hash, db.hash);
    assert.equal(a.outer.round, 1);
  });
});
