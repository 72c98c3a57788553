import assert from "node:assert/strict";
import { type AbiParameter, encodeErrorResult } from "viem";
import { delphiAbi } from "../../lib/chain/artifacts/Delphi.ts";
import { MarketError, toMarketError } from "../../lib/delphi/mod.ts";

/** An error entry of an ABI. */
interface AbiError {
  type: "error";
  name: string;
  inputs: readonly AbiParameter[];
}

/** A zero value of an ABI type, enough to encode an error. */
function zeroOf(p: AbiParameter): unknown {
  if (p.type === "address") return `0x${"00".repeat(20)}`;
  if (p.type === "bool") return false;
  if (p.type.startsWith("bytes")) return `0x${"00".repeat(Number(p.type.slice(5)) || 0)}`;
  return 0n;
}

/** Errors declared in our own sources (the libraries' are not reachable by a valid call). */
async function ownErrors(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const file of ["Delphi.sol", "delphi/Lmsr.sol"]) {
    const source = await Deno.readTextFile(new URL(`../../contracts/${file}`, import.meta.url));
    for (const m of source.matchAll(/^\s*error (\w+)\(/gm)) names.add(m[1]);
  }
  return names;
}

Deno.test("every Delphi error decodes to a MarketError with a hint that says what to do", async () => {
  const own = await ownErrors();
  const errors = (delphiAbi as readonly { type: string }[]).filter((item): item is AbiError =>
    item.type === "error" && own.has((item as AbiError).name)
  );
  assert.equal(errors.length, own.size);
  for (const error of errors) {
    const data = encodeErrorResult(
      {
        abi: [error],
        errorName: error.name,
        args: error.inputs.map(zeroOf),
      } as Parameters<typeof encodeErrorResult>[0],
    );
    const decoded = toMarketError({ data }, "delphi.test");
    assert.ok(decoded instanceof MarketError, `${error.name} is not a MarketError`);
    assert.doesNotMatch(decoded.message, /see the NatSpec/, `${error.name} has no hint`);
  }
});
