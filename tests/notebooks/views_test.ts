import assert from "node:assert/strict";
import { VerificationError } from "../../lib/core/errors.ts";
import type { SegmentVerdict } from "../../lib/proof/replay.ts";
import type { Trace } from "../../lib/proof/trace.ts";
import {
  DENO_INSPECT,
  generationView,
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
import {
  delphiActivity,
  formatAmount,
  loadMarketView,
  loadNetworkPanel,
  type MarketSource,
  marketView,
  networkPanel,
  type TradeRecord,
} from "../../lib/notebook/mod.ts";
import type { Market } from "../../lib/delphi/client.ts";
import type { ProtocolClient } from "../../lib/chain/protocol.ts";
import type { JobRecord } from "../../lib/node/records.ts";
import { forgeCheckpoint } from "../../notebooks/cheating.ts";
import { NodeLog, ProviderView } from "../../notebooks/provider_view.ts";
import { BurnChart } from "../../notebooks/token_economics.ts";
import {
  bitFlipCheat,
  describeDispute,
  disputeOutcome,
  disputePathView,
  onChainDisputeView,
  replayVerdicts,
} from "../../notebooks/dispute_path.ts";
import type { AuditRecord } from "../../lib/node/verifier/mod.ts";
import type { Ruling } from "../../lib/node/disputes/mod.ts";
import { allReduceBytes, DiLoCoView } from "../../notebooks/diloco_view.ts";
import type { DisputePath } from "../../lib/proof/dispute.ts";
import type { RoundReport } from "../../lib/diloco/round.ts";
import type { TrainingState } from "../../lib/exec/state.ts";
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
      assert.deepEqual(spec.argv.slice(-5), [
        "/opt/deno",
        "jupyter",
        "--kernel",
        "--conn",
        "{connection_file}",
      ]);
      assert.equal(spec.display_name, KERNEL_DISPLAY_NAME);
      assert.equal(spec.env.NO_COLOR, "1");
      assert.equal(spec.interrupt_mode, "signal");
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
    // A last display dropped after an earlier one arrived is lost too; a wrong one is not.
    const shown = (text: string) => ({
      output_type: "display_data",
      data: { "text/plain": text },
    });
    const twoDeclared = (outputs: ReturnType<typeof shown>[]): Notebook => ({
      metadata: {},
      cells: [{
        cell_type: "code",
        metadata: {
          gensyn: {
            expect: [{ mime: "text/plain", contains: ["first"] }, {
              mime: "text/plain",
              contains: ["second"],
            }],
          },
        },
        execution_count: 1,
        outputs,
      }],
    });
    const dropped = twoDeclared([shown("first")]);
    assert.equal(onlyLostOutputs(dropped, checkExecuted(dropped)), true);
    const wrong = twoDeclared([shown("first"), shown("other")]);
    assert.equal(onlyLostOutputs(wrong, checkExecuted(wrong)), false);
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

/** A trade of a three-outcome market, with the prices after it. */
function trade(
  n: number,
  outcome: number,
  side: "buy" | "sell",
  whole: bigint,
  prices: number[],
  trader: `0x${string}` = "0xA11CE00000000000000000000000000000000001",
): TradeRecord {
  return {
    blockNumber: BigInt(10 + n),
    hash: `0x${String(n).padStart(64, "0")}`,
    trader,
    outcome,
    side,
    shares: whole * 1_000_000n,
    collateral: whole * 400_000n,
    fee: whole * 2_000n,
    prices,
  };
}

const ALICE = "0xA11CE00000000000000000000000000000000001" as const;
const BOB = "0xB0B0000000000000000000000000000000000002" as const;
const HISTORY = [
  trade(1, 2, "buy", 100n, [0.3, 0.3, 0.4]),
  trade(2, 1, "buy", 50n, [0.25, 0.35, 0.4], BOB),
  trade(3, 1, "sell", 20n, [0.28, 0.3, 0.42], BOB),
];

Deno.test("Delphi market view", async (t) => {
  const outcomes = ["A (15 steps)", "B (60 steps)", "C (240 steps)"];
  const positions = [
    {
      label: "alice",
      account: ALICE,
      positions: [
        { outcome: 0, shares: 0n, price: 0.28, value: 0n },
        { outcome: 1, shares: 0n, price: 0.3, value: 0n },
        { outcome: 2, shares: 100_000_000n, price: 0.42, value: 42_000_000n },
      ],
    },
    {
      label: "bob",
      account: BOB,
      positions: [{ outcome: 1, shares: 30_000_000n, price: 0.3, value: 9_000_000n }],
    },
  ];

  await t.step("price points open equal and follow every trade", () => {
    const view = marketView({ outcomes, prices: [0.28, 0.3, 0.42], history: HISTORY });
    const points = view.pricePoints();
    assert.equal(points.length, 3 * (HISTORY.length + 1));
    assert.deepEqual(points.slice(0, 3).map((p) => p.price), [1 / 3, 1 / 3, 1 / 3]);
    assert.deepEqual(points.filter((p) => p.trade === 2).map((p) => p.price), [0.25, 0.35, 0.4]);
    assert.deepEqual(view.volume(), { collateral: 68_000_000n, fees: 340_000n });
  });

  await t.step(
    "positions are worth their value while trading and pay winners once resolved",
    () => {
      const trading = marketView({ outcomes, prices: [0.28, 0.3, 0.42], positions });
      assert.equal(trading.worth(positions[0].positions[2]), 42_000_000n);
      const won = marketView({
        outcomes,
        prices: [0.28, 0.3, 0.42],
        phase: "Resolved",
        winners: [2],
      });
      assert.equal(won.worth(positions[0].positions[2]), 100_000_000n);
      assert.equal(won.worth(positions[1].positions[0]), 0n);
      // Tied winners split the payout of a share.
      const tied = marketView({
        outcomes,
        prices: [0.28, 0.3, 0.42],
        phase: "Resolved",
        winners: [1, 2],
      });
      assert.equal(tied.worth(positions[0].positions[2]), 50_000_000n);
    },
  );

  await t.step("renders two plots, positions, trades and the resolution; prints a summary", () => {
    const view = marketView({
      outcomes,
      prices: [0.28, 0.3, 0.42],
      history: HISTORY,
      positions,
      phase: "Resolved",
      winners: [2],
      question: "Which <model> wins?",
      marketId: 3n,
    });
    const bundle = view[JUPYTER_DISPLAY]();
    const html = String(bundle["text/html"]);
    assert.match(html, /data-gensyn="market-view" data-market-phase="Resolved"/);
    assert.equal(html.match(/class="plot-/g)?.length, 2);
    assert.match(html, /aria-label="line"/);
    assert.match(html, /aria-label="bar"/);
    assert.match(html, /data-winner="2"/);
    assert.match(html, /Which &lt;model&gt; wins\?/);
    assert.match(html, /final price \(%\)/);
    assert.match(html, /data-worth="100000000"/);
    // Trades name the accounts whose positions are shown.
    assert.match(html, /<td [^>]*>bob<\/td>/);
    assert.equal(
      bundle["text/plain"],
      [
        "market #3 · Resolved · winner C (240 steps) · Which <model> wins?",
        "  A (15 steps) 28.0%, B (60 steps) 30.0%, C (240 steps) 42.0%",
        "  3 trades, volume 68 USD, fees 0.34 USD",
        "  alice: 100 C (240 steps) (pays 100 USD)",
        "  bob: 30 B (60 steps) (pays 0 USD)",
      ].join("\n"),
    );
    assert.equal(view[DENO_INSPECT](), bundle["text/plain"]);
  });

  await t.step("a market with no trades still draws its opening prices", () => {
    const svg = marketView({ outcomes, prices: [1 / 3, 1 / 3, 1 / 3] }).historySvg();
    assert.match(svg, /aria-label="dot"/);
    // The three names sit apart although the prices are equal.
    const ys = [...svg.matchAll(/translate\([\d.]+,([\d.]+)\)" y="[^"]*">[ABC] \(/g)].map((m) =>
      Number(m[1])
    );
    assert.equal(new Set(ys).size, 3, svg);
  });

  await t.step("data of different markets is refused", () => {
    const cases = [
      { outcomes: ["only"], prices: [1] },
      { outcomes, prices: [0.5, 0.5] },
      { outcomes, prices: [0.2, 0.3, 0.5], winners: [3] },
      { outcomes, prices: [0.2, 0.3, 0.5], history: [trade(1, 0, "buy", 1n, [0.5, 0.5])] },
      { outcomes, prices: [0.2, 0.3, 0.5], history: [trade(1, 5, "buy", 1n, [0.2, 0.3, 0.5])] },
    ];
    for (const [i, data] of cases.entries()) {
      assert.throws(() => marketView(data), { code: "SPEC_MARKET_VIEW" }, `case ${i}`);
    }
  });

  await t.step("loadMarketView reads a market handle", async () => {
    // A Delphi Market handle is a MarketSource.
    const _fits: (m: Market) => MarketSource = (m) => m;
    const source: MarketSource = {
      id: 7n,
      info: () => Promise.resolve({ phase: "Closed", winners: [], outcomeCount: 3 }),
      prices: () => Promise.resolve({ prices: [0.28, 0.3, 0.42] }),
      history: () => Promise.resolve(HISTORY),
      positions: (account) =>
        Promise.resolve(positions.find((p) => p.account === account)?.positions ?? []),
    };
    const view = await loadMarketView(source, { accounts: { bob: BOB } });
    assert.deepEqual(view.outcomes, ["outcome 0", "outcome 1", "outcome 2"]);
    assert.equal(view.phase, "Closed");
    assert.equal(view.marketId, 7n);
    assert.equal(view.history.length, 3);
    assert.match(String(view), /bob: 30 outcome 1 \(worth 9 USD\)/);
  });

  await t.step("amounts are exact decimal text, rounded half up", () => {
    const cases: [bigint, number, number | undefined, string][] = [
      [1_234_567_891n, 6, undefined, "1,234.57"],
      [0n, 18, undefined, "0"],
      [5n * 10n ** 17n, 18, undefined, "0.5"],
      [-1_500_000n, 6, undefined, "-1.5"],
      [999_999n, 6, undefined, "1"],
      [1n, 18, 4, "0"],
      [1_000_000_000n * 10n ** 18n, 18, 4, "1,000,000,000"],
      [12_345n, 0, 2, "12,345"],
    ];
    for (const [value, decimals, digits, want] of cases) {
      assert.equal(formatAmount(value, decimals, digits), want, `${value} / 10^${decimals}`);
    }
  });
});

Deno.test("network panel", async (t) => {
  const jobs = {
    jobsCreated: 3,
    escrowedWei: 70n * 10n ** 18n,
    slotsFinalized: 2,
    paidWei: 4975n * 10n ** 16n,
    refundedWei: 0n,
  };
  const stakers = { activeStakers: 2, totalStakedWei: 2000n * 10n ** 18n };

  await t.step("Delphi activity sums the markets' trades", () => {
    assert.deepEqual(delphiActivity([HISTORY, HISTORY.slice(0, 1), []]), {
      markets: 3,
      trades: 4,
      volume: 108_000_000n,
      fees: 540_000n,
    });
  });

  await t.step("the four numbers, with n/a for what was not measured", () => {
    const panel = networkPanel({ jobs, stakers });
    assert.equal(panel.overheadPercent, null);
    assert.deepEqual(panel.tiles().map((tile) => tile.value), ["3 jobs", "2", "n/a", "n/a"]);
    const html = String(panel.toBundle()["text/html"]);
    assert.match(html, /data-gensyn="network-panel"/);
    for (const key of ["job-volume", "active-verifiers", "delphi-activity"]) {
      assert.match(html, new RegExp(`data-metric="${key}"`));
    }
    assert.match(html, /data-metric="verification-overhead" data-value="n\/a"/);
    assert.match(String(panel), /escrowed 70 AIGENSYN · paid 49.75 AIGENSYN for 2 slots/);
  });

  await t.step("a measured overhead is a percentage of compute", () => {
    const panel = networkPanel({
      jobs,
      stakers,
      delphi: delphiActivity([HISTORY]),
      verificationOverhead: { verified: 50, compute: 400, unit: "steps" },
    });
    assert.equal(panel.overheadPercent, 12.5);
    const tiles = panel.tiles();
    assert.equal(tiles[2].value, "3 trades");
    assert.equal(tiles[2].detail, "1 market · volume 68 USD · fees 0.34 USD");
    assert.equal(tiles[3].value, "12.5%");
    assert.equal(tiles[3].detail, "50 of 400 steps re-executed");
  });

  await t.step("with the registry's count, the tile shows verifiers next to the stakers", () => {
    const tile = networkPanel({ jobs, stakers, verifiers: 1 }).tiles()[1];
    assert.deepEqual(tile, {
      key: "active-verifiers",
      label: "active verifiers",
      value: "1",
      detail: "registered and eligible · 2 staked accounts, 2,000 AIGENSYN",
    });
    for (const verifiers of [-1, 1.5, NaN]) {
      assert.throws(() => networkPanel({ jobs, stakers, verifiers }), {
        code: "SPEC_VERIFIER_COUNT",
      });
    }
  });

  await t.step("an overhead that is not a measurement is refused", () => {
    for (
      const o of [{ verified: 1, compute: 0 }, { verified: -1, compute: 5 }, {
        verified: NaN,
        compute: 5,
      }]
    ) {
      assert.throws(
        () => networkPanel({ jobs, stakers, verificationOverhead: { ...o, unit: "s" } }),
        {
          code: "SPEC_VERIFICATION_OVERHEAD",
        },
      );
    }
  });

  await t.step(
    "loadNetworkPanel reads the metrics and the markets over one block range",
    async () => {
      // A protocol client is a NetworkMetricsSource.
      const _fits: (c: ProtocolClient) => Parameters<typeof loadNetworkPanel>[0] = (c) => c;
      const ranges: unknown[] = [];
      const source = {
        metrics: {
          jobVolume: (r?: unknown) => (ranges.push(r), Promise.resolve(jobs)),
          activeStakers: (r?: unknown) => (ranges.push(r), Promise.resolve(stakers)),
        },
      };
      const panel = await loadNetworkPanel(source, {
        markets: [{ history: () => Promise.resolve(HISTORY) }],
        toBlock: 12n,
        title: "Devnet",
      });
      assert.deepEqual(ranges, [{ fromBlock: undefined, toBlock: 12n }, {
        fromBlock: undefined,
        toBlock: 12n,
      }]);
      assert.equal(panel.delphi?.trades, 2); // the trade in block 13 is past the range
      assert.equal(panel.title, "Devnet");
      assert.equal((await loadNetworkPanel(source)).delphi, undefined);
      assert.equal(panel.verifiers, undefined);
      // With the registry, the verifier count as of the range's last block.
      const asOf: unknown[] = [];
      const withRegistry = await loadNetworkPanel({
        ...source,
        verifiers: {
          list: (p?: unknown) => (asOf.push(p), Promise.resolve(["0xa", "0xb", "0xc"])),
        },
      }, { toBlock: 12n });
      assert.equal(withRegistry.verifiers, 3);
      assert.deepEqual(asOf, [{ blockNumber: 12n }]);
      assert.equal(withRegistry.tiles()[1].value, "3");
    },
  );
});

Deno.test("the notebooks' provider view, node log and burn chart", async (t) => {
  await t.step(
    "the node log wakes a waiter on the next matching line, or fails loudly",
    async () => {
      const log = new NodeLog();
      log.write("ready");
      const paid = log.next(/paid \d+ wei/);
      log.write("job 0xabc: committed");
      log.write("job 0xabc: paid 4975 wei (fee 25)");
      assert.equal(await paid, "job 0xabc: paid 4975 wei (fee 25)");
      await assert.rejects(log.next(/never/, 5), /no node log line matched \/never\/ within 5 ms/);
      assert.equal(log.lines.length, 3);
    },
  );

  await t.step("the provider view shows stake, records and earnings", () => {
    const spec = fakeJobSpec();
    const record: JobRecord = {
      jobId: H("a"),
      spec,
      submitter: ALICE,
      submitterPeer: "12D3KooWpeer",
      status: "paid",
      slot: 0,
      paidWei: "4975000000000000000",
      updatedAt: 0,
    };
    const view = new ProviderView({
      account: BOB,
      peerId: "12D3KooWnode",
      profile: "wasm",
      stake: {
        stakedWei: 500n * 10n ** 18n,
        lockedWei: 100n * 10n ** 18n,
        unbondingWei: 0n,
        releaseAt: 0n,
      },
      balanceWei: 10n ** 18n,
      records: [record],
      earnedWei: 4975n * 10n ** 15n,
    });
    const html = String(view.toBundle()["text/html"]);
    assert.match(html, /data-gensyn="provider-view"/);
    assert.match(html, /data-status="paid"/);
    assert.match(html, /aria-label="bar"/);
    assert.match(html, /data-earned="4975000000000000000"/);
    assert.match(String(view), /stake 500 AIGENSYN: 100 AIGENSYN locked/);
    assert.match(String(view), /jobs: 1 paid/);
  });

  await t.step("the burn chart draws the running total", () => {
    const day = 86_400_000;
    const chart = new BurnChart([
      { block: 5n, time: new Date(0), burnedWei: 10n ** 18n, totalWei: 10n ** 18n, label: "fees" },
      { block: 9n, time: new Date(day), burnedWei: 2n * 10n ** 18n, totalWei: 3n * 10n ** 18n },
    ], { from: new Date(-day), to: new Date(2 * day) });
    const svg = chart.toSvg();
    // From nothing burned, a step at each burn, held to the end: one path through four points.
    assert.match(svg, /aria-label="line"/);
    assert.equal(svg.match(/<circle/g)?.length, 2);
    assert.match(svg, /text-anchor="start"[^>]*>.*fees \+1</s);
    assert.match(svg, /text-anchor="end"[^>]*>.*\+2</s);
    assert.match(String(chart.toBundle()["text/html"]), /3 AIGENSYN in 2 burns/);
    assert.match(String(chart), /block 9 \+2 \(total 3\)/);
  });
});

function fakeJobSpec(): JobRecord["spec"] {
  return {
    format: "gensyn-job",
    model: H("1"),
    datasetBlob: H("2"),
    datasetId: H("3"),
    steps: 160,
    batchSize: 64,
    k: 40,
    profile: "wasm",
    dataSeed: 0,
    replicas: 1,
    audit: { segments: 2, verifiers: 1 },
    priceWei: "5000000000000000000",
    nonce: "00",
  } as unknown as JobRecord["spec"];
}

function fakeDispute(winner: "challenger" | "provider" | null): DisputePath {
  return {
    segment: { segment: 2, fromStep: 50, toStep: 75 },
    step: 62,
    opIndex: 79,
    kernel: "Sub",
    verdict: {
      opIndex: 79,
      kernel: "Sub",
      winner,
      faults: [{ side: "provider", reason: "wrong-output", detail: "x".repeat(400) }],
      recomputed: [H("a")],
      kernelsRun: 1,
      programDerived: false,
    },
    rounds: { step: 5, op: 7 },
    transcript: [
      { phase: "segment", segment: { segment: 2, fromStep: 50, toStep: 75 } },
      { phase: "step", at: 62, provider: H("1"), challenger: H("1"), answer: "agree" },
      { phase: "op", at: 79, provider: H("2"), challenger: H("2"), answer: "agree" },
    ],
  };
}

Deno.test("the notebooks' dispute path", async (t) => {
  await t.step("maps a DisputePath into the trace viewer's dispute slot", () => {
    const path = fakeDispute("challenger");
    const d = disputePathView(path);
    assert.deepEqual(d.steps, { agreed: 62, disputed: 63, rounds: 5 });
    assert.deepEqual(d.kernel, { index: 79, name: "Sub", actual: H("a") });
    assert.equal(d.outcome, "provider-wrong");
    assert.match(d.note!, /provider loses: provider wrong-output · 5 step rounds \+ 7 op rounds/);
    assert.match(d.note!, /referee recomputed 1 kernel$/);
    const html = String(traceView(fakeTrace(), { dispute: d }).toBundle()["text/html"]);
    assert.match(html, /data-gensyn="dispute-path"/);
    assert.match(html, /kernel #79 Sub/);
    assert.match(html, /disputed step 63/);
    assert.equal(disputePathView(fakeDispute("provider")).outcome, "challenger-wrong");
    assert.equal(disputePathView(fakeDispute(null)).outcome, "pending");
    assert.equal(disputeOutcome(fakeDispute("provider")), "challenger loses");
  });

  await t.step("maps an on-chain dispute (audit record and ruling) into the dispute slot", () => {
    const record: AuditRecord = {
      jobId: H("j"),
      slot: 0,
      provider: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
      commitBlock: "59",
      seed: null,
      totalSegments: 4,
      segments: [0, 1, 2, 3],
      verdicts: [
        { segment: 0, fromStep: 0, toStep: 40, status: "valid", hash: H("0") },
        {
          segment: 1,
          fromStep: 40,
          toStep: 80,
          status: "mismatch",
          expected: H("1"),
          actual: H("2"),
        },
        {
          segment: 2,
          fromStep: 80,
          toStep: 120,
          status: "withheld",
          hash: H("3"),
          reason: "timed out",
        },
      ],
      outcome: "caught",
      disputed: true,
      dispute: {
        id: "4",
        kind: "Execution",
        outcome: "ChallengerWon",
        step: 61,
        opIndex: 79,
        moves: 12,
        gasUsed: "929500",
      },
      slashedWei: "50000000000000000000",
      replayedSteps: 80,
      durationMs: 1000,
    };
    const ruling: Ruling = {
      id: 4n,
      jobId: H("j"),
      kind: "Execution",
      step: 61,
      opIndex: 79,
      winner: "challenger",
      kernel: "Sub",
      reason: "provider: wrong-output",
      kernelsRun: 1,
      verdict: fakeDispute("challenger").verdict,
    };
    const d = onChainDisputeView(record, ruling);
    assert.equal(d.segment, 1);
    assert.deepEqual(d.steps, { agreed: 61, disputed: 62 });
    assert.deepEqual(d.kernel, { index: 79, name: "Sub", actual: H("a") });
    assert.equal(d.outcome, "provider-wrong");
    assert.equal(
      d.note,
      "dispute #4 ChallengerWon: provider: wrong-output · 12 verifier moves, 929,500 gas · " +
        "provider slashed 50 AIGENSYN · referee recomputed 1 kernel",
    );
    assert.deepEqual(replayVerdicts(record).map((v) => v.status), ["valid", "mismatch"]);
    assert.equal(
      onChainDisputeView(record, { ...ruling, winner: "provider" }).outcome,
      "challenger-wrong",
    );
    assert.throws(
      () => onChainDisputeView({ ...record, dispute: undefined }, ruling),
      /no dispute/,
    );
  });

  await t.step("describes each phase and clips long evidence", () => {
    const text = describeDispute(fakeDispute("challenger"));
    assert.match(text, /segment {2}2 \(steps 50\.\.75\)/);
    assert.match(text, /step {5}62 -> 63 after 5 rounds \(asked at 62\)/);
    assert.match(text, /op {7}#79 Sub after 7 rounds \(asked at 79\)/);
    assert.match(text, /x…\)/);
    assert.ok(!text.includes("x".repeat(200)));
  });

  await t.step("the bit-flip cheat alters only its step", () => {
    const cheat = bitFlipCheat(3, 1, 0);
    const state = (step: number): TrainingState => ({
      step,
      cursor: step,
      variables: [{ name: "w", shape: [2], data: new Float32Array([1, 1]) }],
    });
    const before = state(2);
    assert.equal(cheat.afterStep!(before, state(1)), before);
    const flipped = cheat.afterStep!(state(3), state(2));
    assert.equal(flipped.variables[0].data[0], 1);
    assert.notEqual(flipped.variables[0].data[1], 1);
    assert.ok(cheat.recording);
  });
});

function fakeRound(round: number, hashes: string[], loss: number): RoundReport {
  const workers = hashes.map((_, i) => i);
  return {
    round,
    members: workers,
    assignment: new Map(workers.map((w) => [w, [w]])),
    counted: workers,
    absent: [],
    rejected: [],
    outerHash: hashes[0],
    hashes: new Map(hashes.map((h, i) => [i, h])),
    segments: [],
    loss,
    bytesSent: new Map(workers.map((w) => [w, 1000])),
    innerMs: 1,
    commMs: 1,
    aggregateMs: 1,
  };
}

Deno.test("the notebooks' DiLoCo view", () => {
  assert.equal(allReduceBytes(1000, 4, 10), 10 * 1000 * 4 * 1.5);
  const rounds = [fakeRound(0, [H("a"), H("a")], 1.5), fakeRound(1, [H("b"), H("b")], 0.5)];
  const view = new DiLoCoView(rounds, { params: 1000, innerSteps: 10, singleLoss: [1.2, 0.4] });
  // Two workers: each round a per-step all-reduce sends 10 · 1000 · 4 · 1 bytes, DiLoCo 1000.
  assert.equal(view.reduction(), 40);
  assert.ok(view.identicalHashes());
  const html = String(view.toBundle()["text/html"]);
  assert.match(html, /data-gensyn="diloco-rounds"/);
  assert.match(html, /40× fewer bytes than per-step all-reduce/);
  assert.match(html, /identical outer hash on every worker/);
  assert.match(html, /aria-label="line"/);
  assert.match(html, /on all 2/);
  assert.match(String(view), /round 1 loss 0\.5000 counted \[0,1\] sent 1\.0 kB\/worker/);
  const split = new DiLoCoView([fakeRound(0, [H("a"), H("b")], 1)], { params: 10, innerSteps: 1 });
  assert.ok(!split.identicalHashes());
  assert.match(String(split.toBundle()["text/html"]), /DIVERGED/);
});

Deno.test("generation view", async (t) => {
  const view = generationView("And <God> said", [
    { label: "untrained", text: "q&Z" },
    { label: "trained", detail: "loss 1.64", text: ", Let there be light" },
  ]);
  await t.step("HTML: one column per sample, the prompt first, text escaped", () => {
    const html = view.toBundle()["text/html"] as string;
    assert.ok(html.includes('data-gensyn="generation"'));
    assert.equal(html.match(/<td /g)?.length, 2);
    assert.ok(html.includes("<b>And &lt;God&gt; said</b>q&amp;Z"));
    assert.ok(html.includes("loss 1.64"));
  });
  await t.step("text form: one block per sample", () => {
    assert.equal(
      view.toString(),
      "Generated text\n--- untrained\nAnd <God> saidq&Z\n--- trained (loss 1.64)\n" +
        "And <God> said, Let there be light",
    );
  });
});
