import assert from "node:assert/strict";
import { VerificationError } from "../../lib/core/errors.ts";
import type { SegmentVerdict } from "../../lib/proof/replay.ts";
import type { Trace } from "../../lib/proof/trace.ts";
import {
  DENO_INSPECT,
  installKernelSpec,
  JUPYTER_DISPLAY,
  KERNEL_DISPLAY_NAME,
  KERNEL_NAME,
  kernelsDir,
  progressLine,
  traceView,
  trainingCurves,
  trainingProgress,
} from "../../lib/notebook/mod.ts";
import { forgeCheckpoint } from "../../notebooks/cheating.ts";
import { BlobStore } from "../../lib/proof/store.ts";
import { checkExecuted, checkExpectation, type Notebook, onlyLostOutputs } from "./_expect.ts";

const H = (c: string) => c.repeat(64);

function fakeTrace(steps = 100, k = 25): Trace {
  const checkpoints = [];
  for (let s = 0, i = 0; s <= steps; s += k, i++) {
    checkpoints.push({ step: s, cursor: s * 8, hash: H("abcdef0123456789"[i % 16]) });
  }
  return {
    format: "trace",
    version: 1,
    jobId: null,
    plan: { specId: H("1"), datasetId: H("2"), profile: "cpu", batchSize: 8, dataSeed: 0 },
    k,
    steps,
    checkpoints,
    root: H("f"),
  };
}

Deno.test("kernelspec", async (t) => {
  await t.step("kernelsDir follows Jupyter's data folder rules", () => {
    const cases: [Record<string, string>, typeof Deno.build.os, string | undefined, string][] = [
      [{ HOME: "/h", JUPYTER_DATA_DIR: "/j/" }, "linux", undefined, "/j/kernels"],
      [{ HOME: "/h" }, "linux", undefined, "/h/.local/share/jupyter/kernels"],
      [{ HOME: "/h", XDG_DATA_HOME: "/x" }, "linux", undefined, "/x/jupyter/kernels"],
      [{ HOME: "/h" }, "darwin", undefined, "/h/Library/Jupyter/kernels"],
      [{ APPDATA: "C:\\A" }, "windows", undefined, "C:\\A\\jupyter\\kernels"],
      [{ HOME: "/h", JUPYTER_DATA_DIR: "/j" }, "linux", "/venv", "/venv/share/jupyter/kernels"],
    ];
    for (const [env, os, prefix, want] of cases) {
      assert.equal(kernelsDir({ env: (n) => env[n], os, ...(prefix ? { prefix } : {}) }), want);
    }
    assert.throws(() => kernelsDir({ env: () => undefined, os: "linux" }), /HOME is not set/);
  });

  await t.step("installs idempotently, pointing at the given Deno", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const env = (n: string) => n === "JUPYTER_DATA_DIR" ? dir : undefined;
      const first = await installKernelSpec({ env, denoPath: "/opt/deno" });
      assert.equal(first.changed, true);
      assert.equal(first.dir, `${dir}/kernels/${KERNEL_NAME}`);
      const spec = JSON.parse(await Deno.readTextFile(`${first.dir}/kernel.json`));
      assert.deepEqual(spec.argv, [
        "/opt/deno",
        "jupyter",
        "--kernel",
        "--conn",
        "{connection_file}",
      ]);
      assert.equal(spec.display_name, KERNEL_DISPLAY_NAME);
      assert.equal(spec.env.NO_COLOR, "1");
      assert.equal(spec.interrupt_mode, "message");
      assert.equal((await installKernelSpec({ env, denoPath: "/opt/deno" })).changed, false);
      assert.equal((await installKernelSpec({ env, denoPath: "/usr/bin/deno" })).changed, true);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("training progress", async (t) => {
  let clock = 0;
  const lines: string[] = [];
  const make = (tty: boolean) =>
    trainingProgress({
      steps: 100,
      k: 25,
      batchSize: 32,
      title: "run",
      output: "terminal",
      tty,
      intervalMs: 100,
      now: () => clock,
      write: (s) => lines.push(s),
    });

  await t.step("counts steps, rate and checkpoints", async () => {
    clock = 0;
    lines.length = 0;
    const p = make(false);
    p.onCheckpoint({ step: 0, cursor: 0, hash: H("a") });
    for (let step = 1; step <= 100; step++) {
      clock = step * 10; // 100 steps/s
      p.onStep({ step, cursor: step * 32, loss: 1 / step });
      if (step % 25 === 0) p.onCheckpoint({ step, cursor: step * 32, hash: H("b") });
    }
    p.onVerdict({ segment: 0, fromStep: 0, toStep: 25, status: "valid", hash: H("c") });
    await p.done();
    const s = p.snapshot();
    assert.equal(s.step, 100);
    assert.equal(s.checkpoints, 5);
    assert.equal(s.expectedCheckpoints, 5);
    assert.equal(Math.round(s.stepsPerSecond!), 100);
    assert.equal(Math.round(s.samplesPerSecond!), 3200);
    assert.equal(s.verdicts.valid, 1);
    assert.equal(p.curves().loss.length, 100);
    // A log gets a line per interval plus the last step, the verdict and the final line.
    assert(lines.length >= 10 && lines.length <= 16, `${lines.length} lines`);
    assert(lines.every((l) => l.endsWith("\n") && !l.includes("\r")));
    assert.match(lines.at(-1)!, /^run step 100\/100 done {2}loss 0\.01 {2}3,200 samples\/s/);
    assert.match(lines.at(-1)!, /checkpoints 5\/5 {2}verdicts 1 valid/);
  });

  await t.step("rewrites one line on a TTY", async () => {
    clock = 0;
    lines.length = 0;
    const p = make(true);
    for (let step = 1; step <= 100; step++) {
      clock = step * 100;
      p.onStep({ step, cursor: step, loss: 0.5 });
    }
    await p.done();
    assert(lines.every((l) => l.startsWith("\r")));
    assert(lines.at(-1)!.endsWith("\n"));
  });

  await t.step("renders HTML with the numbers and a loss sparkline", () => {
    const p = trainingProgress({ steps: 10, output: "none" });
    p.onStep({ step: 1, cursor: 1, loss: 2 });
    p.onStep({ step: 2, cursor: 2, loss: 1 });
    const bundle = p[JUPYTER_DISPLAY]();
    const html = String(bundle["text/html"]);
    assert.match(html, /data-gensyn="training-progress"/);
    assert.match(html, /step 2 \/ 10/);
    assert.match(html, /<svg[^>]*>.*<path/s);
    assert.equal(bundle["text/plain"], String(p));
    assert.equal(p[DENO_INSPECT](), progressLine(p.snapshot()));
  });

  await t.step("rejects bad options with a typed error", () => {
    assert.throws(() => trainingProgress({ steps: -1 }), { code: "SPEC_INVALID_STEPS" });
    assert.throws(() => trainingProgress({ steps: 1, k: 0 }), {
      code: "SPEC_INVALID_CHECKPOINT_INTERVAL",
    });
  });
});

Deno.test("training curves", async (t) => {
  const loss = Array.from({ length: 300 }, (_, i) => ({ step: i + 1, loss: 2 / (i + 1) }));
  await t.step("loss only: one SVG panel", () => {
    const c = trainingCurves({ loss });
    assert.equal(c.accuracySvg(), null);
    const svg = c.toSvg();
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /aria-label="line"/);
    assert.equal(String(c), "loss 2 → 0.006667 over 300 steps");
  });
  await t.step("with evaluations: loss and accuracy side by side", () => {
    const c = trainingCurves({
      loss,
      evaluations: [{ step: 0, accuracy: 0.1, loss: 2.3 }, { step: 300, accuracy: 0.9 }],
    });
    const bundle = c.toBundle();
    assert.match(String(bundle["text/html"]), /data-gensyn="training-curves"/);
    const svg = String(bundle["image/svg+xml"]);
    assert.equal(svg.match(/class="plot-/g)?.length, 2);
    assert.match(svg, /test accuracy \(%\)/);
    assert.match(svg, /90\.0%/);
    assert.match(String(c), /test accuracy 90\.0% at step 300/);
  });
  await t.step("empty curves still draw a frame", () => {
    assert.match(trainingCurves({ loss: [] }).toSvg(), /no steps yet/);
  });
});

Deno.test("trace viewer", async (t) => {
  const trace = fakeTrace();
  const valid: SegmentVerdict = {
    segment: 0,
    fromStep: 0,
    toStep: 25,
    status: "valid",
    hash: H("b"),
  };
  const mismatch: SegmentVerdict = {
    segment: 2,
    fromStep: 50,
    toStep: 75,
    status: "mismatch",
    expected: H("d"),
    actual: H("9"),
  };

  await t.step("segments and counts", () => {
    const v = traceView(trace, { verdicts: [valid, mismatch] });
    assert.deepEqual(v.segments().map((r) => r.status), [
      "valid",
      "unaudited",
      "mismatch",
      "unaudited",
    ]);
    assert.equal(v.counts().mismatch, 1);
    assert.equal(
      v.withVerdicts([{ ...mismatch, ...valid, segment: 2, fromStep: 50, toStep: 75 }])
        .counts().mismatch,
      0,
    );
  });

  await t.step("HTML colours verdicts and lists them", () => {
    const html = traceView(trace, { verdicts: [valid, mismatch] }).toHtml();
    assert.match(html, /data-gensyn="trace-view"/);
    assert.match(html, /data-segment="2" data-verdict="mismatch"/);
    assert.match(html, /fill="#e03131"/); // mismatch colour on the step axis
    assert.match(html, /fill="#2f9e44"/); // valid colour
    assert.match(html, /MISMATCH \(1\)/);
  });

  await t.step("text form names the failed segments", () => {
    const text = String(traceView(trace, { verdicts: [valid, mismatch] }));
    assert.match(text, /audited 2 of 4 segments: 1 VALID, 1 MISMATCH/);
    assert.match(text, /segment 2 \[steps 50\.\.75\] MISMATCH: committed dddd/);
  });

  await t.step("a dispute path is shown from segment to kernel", () => {
    const v = traceView(trace).withDispute({
      segment: 2,
      steps: { agreed: 61, disputed: 62, rounds: 5 },
      kernel: { index: 14, name: "MatMul" },
      outcome: "provider-wrong",
      note: "provider slashed",
    });
    const html = v.toHtml();
    assert.match(html, /data-gensyn="dispute-path"/);
    assert.match(html, /disputed step 62/);
    assert.match(
      String(v),
      /dispute: segment 2 \(steps 50–75\) → step 62 \(agreed at 61, 5 rounds\) → kernel #14 MatMul → provider wrong/,
    );
  });

  await t.step("verdicts and disputes from another trace are refused", () => {
    assert.throws(
      () => traceView(trace, { verdicts: [{ ...valid, toStep: 30 }] }),
      (e) => e instanceof VerificationError && e.code === "VERIFY_VERDICT_NOT_IN_TRACE",
    );
    assert.throws(
      () => traceView(trace, { dispute: { segment: 9 } }),
      (e) => e instanceof VerificationError && e.code === "VERIFY_DISPUTE_NOT_IN_TRACE",
    );
    assert.throws(
      () => traceView(trace, { dispute: { segment: 1, steps: { agreed: 70, disputed: 71 } } }),
      (e) => e instanceof VerificationError && e.code === "VERIFY_DISPUTE_NOT_IN_TRACE",
    );
  });
});

Deno.test("notebook output expectations", async (t) => {
  const html = { output_type: "display_data", data: { "text/html": ["<b>", "VALID</b>"] } };
  const out = { output_type: "stream", name: "stdout", text: "honest: 8/8\n" };
  await t.step("mime outputs match on joined text", () => {
    assert.deepEqual(checkExpectation([html], { mime: "text/html", contains: ["<b>VALID"] }), []);
    assert.equal(checkExpectation([html], { mime: "image/svg+xml" }).length, 1);
    assert.equal(
      checkExpectation([html], { mime: "text/html", notContains: ["VALID"] }).length,
      1,
    );
    assert.deepEqual(checkExpectation([out], { output: "stream", contains: ["8/8"] }), []);
  });
  await t.step("executed notebooks: errors, stderr, unrun cells and missing outputs", () => {
    const nb: Notebook = {
      metadata: {},
      cells: [
        { cell_type: "markdown", metadata: {} },
        {
          cell_type: "code",
          id: "a",
          metadata: { gensyn: { expect: [{ mime: "text/html", contains: ["MISMATCH"] }] } },
          execution_count: 1,
          outputs: [html, { output_type: "stream", name: "stderr", text: "warn" }],
        },
        {
          cell_type: "code",
          id: "b",
          metadata: {},
          execution_count: null,
          outputs: [{ output_type: "error", ename: "TypeError", evalue: "x is undefined" }],
        },
      ],
    };
    const problems = checkExecuted(nb).map((p) => p.message);
    assert.equal(problems.length, 4, problems.join("\n"));
    assert(problems.some((p) => p.includes("cell 1 (a) wrote to stderr")));
    assert(problems.some((p) => p.includes('lacks "MISMATCH"')));
    assert(problems.some((p) => p.includes("cell 2 (b) did not run")));
    assert(problems.some((p) => p.includes("raised TypeError: x is undefined")));
    assert.equal(onlyLostOutputs(nb, checkExecuted(nb)), false);
    const lost: Notebook = {
      metadata: {},
      cells: [{
        cell_type: "code",
        metadata: { gensyn: { expect: [{ mime: "text/html" }] } },
        execution_count: 1,
        outputs: [],
      }],
    };
    assert.equal(onlyLostOutputs(lost, checkExecuted(lost)), true);
    assert.match(
      checkExecuted({ metadata: {}, cells: [] }).map((p) => p.message).join(),
      /declares no expected output/,
    );
  });
});

Deno.test("the notebooks' cheating provider refuses to forge the initial state", async () => {
  await assert.rejects(
    forgeCheckpoint({ trace: fakeTrace(), store: new BlobStore("/nonexistent"), checkpoint: 0 }),
    (e) => e instanceof VerificationError && e.code === "VERIFY_BAD_SEGMENT",
  );
});
