import assert from "node:assert/strict";
import { encodeErrorResult } from "viem";
import { jobMarketAbi } from "../../lib/chain/artifacts/JobMarket.ts";
import { ChainError } from "../../lib/core/errors.ts";
import {
  ContractRevertError,
  runInvariantFuzz,
  startDevnet,
  toChainError,
} from "../../lib/chain/mod.ts";

Deno.test("reverts decode into typed errors; other failures stay ChainErrors", () => {
  const data = encodeErrorResult({
    abi: jobMarketAbi,
    errorName: "UnknownJob",
    args: [`0x${"ab".repeat(32)}`],
  });
  const decoded = toChainError({ data }, "jobs.claim");
  assert.ok(decoded instanceof ContractRevertError);
  assert.equal(decoded.errorName, "UnknownJob");
  assert.equal(decoded.code, "UNKNOWN_JOB");
  assert.match(decoded.message, /jobs\.claim reverted with UnknownJob: no job 0xabab/);
  // Nested errors (here a viem-style cause chain) are found too.
  const nested = toChainError(new Error("outer", { cause: { data } }), "jobs.claim");
  assert.equal((nested as ContractRevertError).errorName, "UnknownJob");
  const plain = toChainError(new Error("socket hang up"), "jobs.get");
  assert.ok(plain instanceof ChainError && !(plain instanceof ContractRevertError));
  assert.equal(plain.code, "CALL_FAILED");
  assert.equal(toChainError({ data: "0xdeadbeef" }, "jobs.get").code, "CALL_FAILED");
});

Deno.test("random action sequences keep every protocol invariant (fast-check, real anvil)", async () => {
  await using devnet = await startDevnet();
  const result = await runInvariantFuzz(devnet, { runs: 60, seed: 7 });
  assert.equal(result.runs, 60);
  assert.ok(result.reverts > 0 && result.reverts < result.actions);
  // A transaction that passed estimation must not be mined reverted.
  assert.deepEqual(result.unexpectedReverts, []);
  assert.deepEqual(result.violations, []);
});
