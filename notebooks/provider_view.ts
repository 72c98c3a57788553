/**
 * Helpers of the `05-run-a-provider` notebook: a view of one provider node (its account, peer,
 * stake, job records and earnings) and a node log that can be waited on, so the notebook waits for
 * the node's payment as an event rather than by sleeping.
 *
 * @module
 */

import type { ProtocolClient } from "@gensyn-deno/toolkit/chain";
import type { StakeView } from "@gensyn-deno/toolkit/chain";
import type { ProviderNode } from "@gensyn-deno/toolkit/node";
import type { JobRecord, JobStatus } from "@gensyn-deno/toolkit/node";
import { escapeHtml, type MimeBundle, RichView, shortHash } from "@gensyn-deno/toolkit/notebook";
import { formatAmount, TOKEN_UNIT } from "@gensyn-deno/toolkit/notebook";
import * as Plot from "npm:@observablehq/plot@0.6.17";
import { renderPlot } from "@gensyn-deno/toolkit/notebook";

/** What a provider view shows. */
export interface ProviderViewData {
  /** Heading. Default `"Provider"`. */
  readonly title?: string;
  /** The provider's account. */
  readonly account: string;
  /** Its libp2p peer id. */
  readonly peerId: string;
  /** The execution profile it runs. */
  readonly profile: string;
  /** Its stake. */
  readonly stake: StakeView;
  /** Its AIGENSYN balance outside the stake, wei. */
  readonly balanceWei: bigint;
  /** Its job records. */
  readonly records: readonly JobRecord[];
  /** Paid to it for finished jobs, wei (`node.earnedWei()`). */
  readonly earnedWei: bigint;
}

const STATUS_COLORS: Readonly<Record<JobStatus, string>> = {
  claiming: "#adb5bd",
  claimed: "#868e96",
  training: "#1f6fb4",
  committed: "#e67700",
  paid: "#2b8a3e",
  failed: "#c92a2a",
  released: "#a61e4d",
};

const STAKE_PARTS = [
  { part: "free", color: "#4e79a7" },
  { part: "locked by jobs", color: "#e15759" },
  { part: "unbonding", color: "#bab0ab" },
] as const;

/** One provider node: stake, jobs, earnings. */
export class ProviderView extends RichView {
  /** The data shown. */
  readonly data: ProviderViewData;

  /** Wraps the data. */
  constructor(data: ProviderViewData) {
    super();
    this.data = data;
  }

  /** The stake as one stacked bar (free, locked by jobs, unbonding), or null with no stake. */
  stakeSvg(): string | null {
    const { stakedWei, lockedWei, unbondingWei } = this.data.stake;
    const amounts = [stakedWei - lockedWei, lockedWei, unbondingWei];
    const total = amounts.reduce((a, b) => a + b, 0n);
    if (total === 0n) return null;
    let at = 0;
    const rows = STAKE_PARTS.map(({ part, color }, i) => {
      const amount = Number(amounts[i]) / 1e18;
      const row = { part, color, amount, x1: at, x2: at + amount };
      at += amount;
      return row;
    }).filter((r) => r.amount > 0);
    return renderPlot({
      width: 560,
      height: 90,
      marginLeft: 20,
      marginRight: 20,
      x: { label: "stake (AIGENSYN)", domain: [0, at], grid: true },
      y: { axis: null },
      marks: [
        Plot.barX(rows, {
          x1: "x1",
          x2: "x2",
          y: () => "stake",
          fill: (r: { color: string }) => r.color,
        }),
        Plot.text(rows, {
          x: (r: { x1: number; x2: number }) => (r.x1 + r.x2) / 2,
          y: () => "stake",
          text: (r: { part: string; amount: number }) => `${r.part} ${r.amount}`,
          fill: "white",
          fontWeight: "bold",
        }),
      ],
    });
  }

  /** The view as HTML: identity, stake bar, job records, earnings. */
  toHtml(): string {
    const d = this.data;
    const token = (wei: bigint) => `${formatAmount(wei, TOKEN_UNIT.decimals, 4)} AIGENSYN`;
    const { stakedWei, lockedWei, unbondingWei } = d.stake;
    const stakeSvg = this.stakeSvg();
    const head = ["job", "status", "slot", "steps", "k", "price", "paid to the node"].map((h) =>
      `<th style="text-align:left;padding:2px 12px 2px 0;border-bottom:1px solid #ccc">${h}</th>`
    ).join("");
    const rows = d.records.map((r) =>
      `<tr data-job="${r.jobId}" data-status="${r.status}">` +
      cell(shortHash(r.jobId, 16)) +
      `<td style="padding:2px 12px 2px 0"><span style="color:white;background:` +
      `${STATUS_COLORS[r.status]};border-radius:3px;padding:0 6px;font-weight:600">` +
      `${r.status}</span></td>` +
      cell(String(r.slot)) + cell(String(r.spec.steps)) + cell(String(r.spec.k)) +
      cell(token(BigInt(r.spec.priceWei))) +
      cell(r.paidWei === undefined ? "–" : token(BigInt(r.paidWei))) + `</tr>`
    ).join("");
    const records = d.records.length === 0
      ? `<p style="color:#666">No jobs yet.</p>`
      : `<table data-gensyn="provider-records" style="border-collapse:collapse">` +
        `<thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
    return `<div data-gensyn="provider-view" style="font-family:system-ui,sans-serif;` +
      `font-size:13px;max-width:760px">` +
      `<div><b>${escapeHtml(d.title ?? "Provider")}</b> · account <code>${d.account}</code></div>` +
      `<div style="color:#555">peer <code>${escapeHtml(d.peerId)}</code> · profile ` +
      `${escapeHtml(d.profile)} · balance ${token(d.balanceWei)}</div>` +
      `<div style="margin-top:4px"><b>Stake</b> ${token(stakedWei)} (${
        token(lockedWei)
      } locked by jobs, ${token(unbondingWei)} unbonding)</div>` +
      (stakeSvg ?? "") +
      `<div style="margin-top:4px"><b>Jobs</b></div>` + records +
      `<div style="margin-top:6px" data-earned="${d.earnedWei}"><b>Earned</b> ${
        token(d.earnedWei)
      }</div></div>`;
  }

  /** The view as a `text/html` bundle. */
  toBundle(): MimeBundle {
    return { "text/html": this.toHtml() };
  }

  /** A few lines: identity, stake, jobs by status, earnings. */
  toString(): string {
    const d = this.data;
    const token = (wei: bigint) => `${formatAmount(wei, TOKEN_UNIT.decimals, 4)} AIGENSYN`;
    const byStatus = new Map<string, number>();
    for (const r of d.records) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
    return [
      `${d.title ?? "provider"} ${d.account} (peer ${shortHash(d.peerId, 16)}, ${d.profile})`,
      `  stake ${token(d.stake.stakedWei)}: ${token(d.stake.lockedWei)} locked, ` +
      `${token(d.stake.unbondingWei)} unbonding`,
      `  jobs: ${
        d.records.length === 0
          ? "none"
          : [...byStatus].map(([status, n]) => `${n} ${status}`).join(", ")
      }`,
      `  earned ${token(d.earnedWei)}`,
    ].join("\n");
  }
}

/** Reads a node's stake, balance, records and earnings. */
export async function loadProviderView(params: {
  node: ProviderNode;
  chain: ProtocolClient;
  peerId: string;
  title?: string;
}): Promise<ProviderView> {
  const { node, chain } = params;
  const [stake, balanceWei, records, earnedWei] = await Promise.all([
    chain.staking.get(),
    chain.token.balanceOf(),
    node.records.list(),
    node.earnedWei(),
  ]);
  return new ProviderView({
    title: params.title,
    account: chain.account,
    peerId: params.peerId,
    profile: node.profile,
    stake,
    balanceWei,
    records,
    earnedWei,
  });
}

/**
 * A node's log lines, kept, with a way to wait for the next line matching a pattern. Pass
 * {@link NodeLog.write} as the node's `log`.
 */
export class NodeLog {
  /** Every line so far. */
  readonly lines: string[] = [];
  readonly #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];

  /** Keeps a line and wakes the waiters it matches. */
  readonly write = (line: string): void => {
    this.lines.push(line);
    for (const w of this.#waiters.filter((w) => w.pattern.test(line))) {
      this.#waiters.splice(this.#waiters.indexOf(w), 1);
      w.resolve(line);
    }
  };

  /**
   * The next line (from now on) matching `pattern`; rejects after `timeoutMs` (default 60 s),
   * quoting the last lines, so a node that never gets there fails loudly.
   */
  next(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(
          new Error(
            `no node log line matched ${pattern} within ${timeoutMs} ms; last lines:\n` +
              this.lines.slice(-10).join("\n"),
          ),
        );
      }, timeoutMs);
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      this.#waiters.push(waiter);
    });
  }
}

function cell(text: string): string {
  return `<td style="padding:2px 12px 2px 0">${escapeHtml(text)}</td>`;
}
