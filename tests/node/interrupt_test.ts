import assert from "node:assert/strict";
import { TrainingError } from "../../lib/core/errors.ts";
import { abortable } from "../../lib/node/interrupt.ts";

/** An endless source that records whether it was let go. */
function source(): { items: AsyncIterable<number>; released: Promise<void> } {
  let release = () => {};
  const released = new Promise<void>((resolve) => release = resolve);
  async function* items() {
    try {
      for (let i = 0;; i++) {
        yield i;
        // Then waits for an item that never comes.
        if (i === 2) await new Promise(() => {});
      }
    } finally {
      release();
    }
  }
  return { items: items(), released };
}

Deno.test("interrupts", async (t) => {
  await t.step("abortable passes items through and ends with its source", async () => {
    async function* three() {
      yield* [1, 2, 3];
    }
    const got: number[] = [];
    for await (const x of abortable(three(), new AbortController().signal)) got.push(x);
    assert.deepEqual(got, [1, 2, 3]);
  });

  await t.step("abortable throws the reason while an item is awaited", async () => {
    const { items } = source();
    const stop = new AbortController();
    const reason = new Error("stop");
    const got: number[] = [];
    await assert.rejects(async () => {
      for await (const x of abortable(items, stop.signal)) {
        got.push(x);
        if (x === 2) setTimeout(() => stop.abort(reason), 10);
      }
    }, (e) => e === reason);
    assert.deepEqual(got, [0, 1, 2]);
  });

  await t.step("abortable lets go of the source when the loop breaks", async () => {
    const { items, released } = source();
    for await (const x of abortable(items, new AbortController().signal)) if (x === 1) break;
    await released;
  });

  await t.step(
    "SIGINT aborts an open scope with TRAINING_WAIT_ABORTED, not the process",
    async () => {
      const module = new URL("../../lib/node/interrupt.ts", import.meta.url).href;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "eval",
          `import { interruptible } from "${module}";\n` +
          "const code = await interruptible((signal) => new Promise((_, reject) => {\n" +
          "  signal.addEventListener('abort', () => reject(signal.reason));\n" +
          "  Deno.kill(Deno.pid, 'SIGINT');\n" +
          "})).catch((e) => `${e.name} ${e.code}`);\n" +
          "console.log(code);",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout).trim();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.equal(text, `${TrainingError.name} TRAINING_WAIT_ABORTED`);
    },
  );
});
