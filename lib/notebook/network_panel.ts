/**
 * The network metrics panel: the four numbers the protocol is judged by, side by side.
 *
 * 1. **Compute job volume**: jobs created, payment escrowed, slots paid and the amount paid
 *    (`chain.metrics.jobVolume()`).
 * 2. **Active verifiers**: verifiers registered in the verifier registry with enough stake to be
 *    drawn for audits and referee committees (`chain.verifiers.list()`), next to every account
 *    with stake and how much (`chain.metrics.activeStakers()`). Without the registry count the
 *    tile shows the stakers.
 * 3. **Delphi activity**: markets, trades, traded volume and fees, from the markets' trade
 *    histories.
 * 4. **Verification overhead**: re-executed work as a percentage of the compute it checks. The
 *    chain does not record it, so the caller measures it (audited steps over trained steps, or
 *    re-execution seconds over training seconds) and passes it in; without it the panel says
 *    `n/a` rather than guess.
 *
 * {@link networkPanel} builds the panel from plain numbers; {@link loadNetworkPanel} reads them
 * from a protocol client and the markets given.
 *
 * @module
 */

import type { JobVolume, RangeParams, StakerStats } from "../chain/metrics.ts";
import { SpecError } from "../core/errors.ts";
import type { TradeRecord } from "../delphi/market_state.ts";
import { escapeHtml, formatNumber, type MimeBundle, RichView } from "./display.ts";
import { formatAmount, STABLE_UNIT, type TokenUnit } from "./market_view.ts";

/** The protocol token (18 decimals). */
export const TOKEN_UNIT: TokenUnit = { symbol: "AIGENSYN", decimals: 18 };

/** Delphi activity over some markets. */
export interface DelphiActivity {
  /** Markets counted. */
  readonly markets: number;
  /** Trades in them. */
  readonly trades: number;
  /** Collateral traded, fees excluded, collateral base units. */
  readonly volume: bigint;
  /** Trading fees paid, collateral base units. */
  readonly fees: bigint;
}

/**
 * Delphi activity from market histories (one `market.history()` per market).
 *
 * @example
 * ```ts
 * import { delphiActivity } from "./network_panel.ts";
 * declare const market: import("../delphi/client.ts").Market;
 * const activity = delphiActivity([await market.history()]); // { markets: 1, trades, volume, fees }
 * ```
 */
export function delphiActivity(histories: readonly (readonly TradeRecord[])[]): DelphiActivity {
  let trades = 0;
  let volume = 0n;
  let fees = 0n;
  for (const history of histories) {
    trades += history.length;
    for (const t of history) {
      volume += t.collateral;
      fees += t.fee;
    }
  }
  return { markets: histories.length, trades, volume, fees };
}

/**
 * Verification work measured against the compute it checks, in one unit: audited steps of
 * trained steps, or seconds of re-execution of seconds of training.
 */
export interface VerificationOverhead {
  /** Work re-executed by verifiers. */
  readonly verified: number;
  /** Work of the compute being verified, in the same unit. */
  readonly compute: number;
  /** The unit, plural: `"steps"`, `"seconds"`. */
  readonly unit: string;
}

/** Data of {@link networkPanel}. */
export interface NetworkPanelData {
  /** Job volume (`chain.metrics.jobVolume()`). */
  readonly jobs: JobVolume;
  /** Stakers (`chain.metrics.activeStakers()`). */
  readonly stakers: Pick<StakerStats, "activeStakers" | "totalStakedWei">;
  /**
   * Registered verifiers eligible to be drawn (`(await chain.verifiers.list()).length`). Without
   * it the tile counts stakers.
   */
  readonly verifiers?: number;
  /** Delphi activity ({@link delphiActivity}); `n/a` when absent. */
  readonly delphi?: DelphiActivity;
  /** Measured verification overhead; `n/a` when absent. */
  readonly verificationOverhead?: VerificationOverhead;
  /** Title. Default `"Network"`. */
  readonly title?: string;
  /** The protocol token. Default {@link TOKEN_UNIT}. */
  readonly token?: TokenUnit;
  /** Delphi's collateral. Default {@link STABLE_UNIT}. */
  readonly collateral?: TokenUnit;
}

/** One tile of the panel. */
export interface PanelTile {
  /** Stable key (`job-volume`, `active-verifiers`, `delphi-activity`, `verification-overhead`). */
  readonly key: string;
  /** What it measures. */
  readonly label: string;
  /** The headline figure, or `n/a`. */
  readonly value: string;
  /** The detail under it. */
  readonly detail: string;
}

/** The four numbers the protocol is judged by. Build it with {@link networkPanel}. */
export class NetworkPanel extends RichView {
  /** Job volume. */
  readonly jobs: JobVolume;
  /** Stakers. */
  readonly stakers: Pick<StakerStats, "activeStakers" | "totalStakedWei">;
  /** Registered verifiers eligible to be drawn, if known. */
  readonly verifiers: number | undefined;
  /** Delphi activity, if known. */
  readonly delphi: DelphiActivity | undefined;
  /** Verification overhead, if measured. */
  readonly verificationOverhead: VerificationOverhead | undefined;
  /** Title. */
  readonly title: string;
  readonly #token: TokenUnit;
  readonly #collateral: TokenUnit;

  /**
   * Checks the overhead measurement (`SPEC_VERIFICATION_OVERHEAD`) and the verifier count
   * (`SPEC_VERIFIER_COUNT`).
   */
  constructor(data: NetworkPanelData) {
    super();
    const o = data.verificationOverhead;
    if (
      o !== undefined &&
      !(Number.isFinite(o.verified) && o.verified >= 0 && Number.isFinite(o.compute) &&
        o.compute > 0)
    ) {
      throw new SpecError(
        "SPEC_VERIFICATION_OVERHEAD",
        `verification overhead needs verified >= 0 and compute > 0 ${o.unit}, got ` +
          `${o.verified} of ${o.compute}; measure both in the same unit, or leave it out (n/a)`,
        { value: o },
      );
    }
    if (
      data.verifiers !== undefined && !(Number.isInteger(data.verifiers) && data.verifiers >= 0)
    ) {
      throw new SpecError(
        "SPEC_VERIFIER_COUNT",
        `the verifier count must be a whole number >= 0, got ${data.verifiers}; pass ` +
          "(await chain.verifiers.list()).length, or leave it out to count stakers",
        { value: data.verifiers },
      );
    }
    this.jobs = data.jobs;
    this.stakers = data.stakers;
    this.verifiers = data.verifiers;
    this.delphi = data.delphi;
    this.verificationOverhead = o;
    this.title = data.title ?? "Network";
    this.#token = data.token ?? TOKEN_UNIT;
    this.#collateral = data.collateral ?? STABLE_UNIT;
  }

  /** Verification overhead in percent of compute, or null when not measured. */
  get overheadPercent(): number | null {
    const o = this.verificationOverhead;
    return o === undefined ? null : 100 * o.verified / o.compute;
  }

  /** The four tiles, in order. */
  tiles(): PanelTile[] {
    const token = (wei: bigint) =>
      `${formatAmount(wei, this.#token.decimals)} ${this.#token.symbol}`;
    const stable = (v: bigint) =>
      `${formatAmount(v, this.#collateral.decimals)} ${this.#collateral.symbol}`;
    const j = this.jobs;
    const d = this.delphi;
    const o = this.verificationOverhead;
    const percent = this.overheadPercent;
    return [
      {
        key: "job-volume",
        label: "compute job volume",
        value: `${j.jobsCreated} job${j.jobsCreated === 1 ? "" : "s"}`,
        detail: `escrowed ${token(j.escrowedWei)} · paid ${token(j.paidWei)} for ` +
          `${j.slotsFinalized} slot${j.slotsFinalized === 1 ? "" : "s"}` +
          (j.refundedWei > 0n ? ` · refunded ${token(j.refundedWei)}` : ""),
      },
      this.verifiers === undefined
        ? {
          key: "active-verifiers",
          label: "active verifiers (staked)",
          value: String(this.stakers.activeStakers),
          detail: `${token(this.stakers.totalStakedWei)} staked`,
        }
        : {
          key: "active-verifiers",
          label: "active verifiers",
          value: String(this.verifiers),
          detail: `registered and eligible · ${this.stakers.activeStakers} staked account` +
            `${this.stakers.activeStakers === 1 ? "" : "s"}, ${token(this.stakers.totalStakedWei)}`,
        },
      {
        key: "delphi-activity",
        label: "Delphi activity",
        value: d === undefined ? "n/a" : `${d.trades} trade${d.trades === 1 ? "" : "s"}`,
        detail: d === undefined
          ? "no Delphi history read"
          : `${d.markets} market${d.markets === 1 ? "" : "s"} · volume ${stable(d.volume)} · ` +
            `fees ${stable(d.fees)}`,
      },
      {
        key: "verification-overhead",
        label: "verification overhead",
        value: percent === null ? "n/a" : `${formatNumber(percent, 3)}%`,
        detail: o === undefined
          ? "not measured"
          : `${formatNumber(o.verified)} of ${formatNumber(o.compute)} ${o.unit} re-executed`,
      },
    ];
  }

  /** The panel as HTML: four tiles in a row. */
  toHtml(): string {
    const tiles = this.tiles().map((t) =>
      `<div data-metric="${t.key}" data-value="${escapeHtml(t.value)}" style="flex:1 1 160px;` +
      `border:1px solid #dee2e6;border-radius:6px;padding:8px 10px;min-width:160px">` +
      `<div style="color:#666;font-size:12px">${escapeHtml(t.label)}</div>` +
      `<div style="font-size:22px;font-weight:600;color:${
        t.value === "n/a" ? "#adb5bd" : "#1f2933"
      }">${escapeHtml(t.value)}</div>` +
      `<div style="color:#555;font-size:12px">${escapeHtml(t.detail)}</div></div>`
    ).join("");
    return `<div data-gensyn="network-panel" style="font-family:system-ui,sans-serif;` +
      `font-size:13px;max-width:860px"><div><b>${escapeHtml(this.title)}</b></div>` +
      `<div style="display:flex;flex-wrap:wrap;gap:10px;margin-top:4px">${tiles}</div></div>`;
  }

  /** The panel as a `text/html` bundle. */
  toBundle(): MimeBundle {
    return { "text/html": this.toHtml() };
  }

  /** One line per tile. */
  toString(): string {
    const tiles = this.tiles();
    const width = Math.max(...tiles.map((t) => t.label.length));
    return [
      this.title,
      ...tiles.map((t) => `  ${t.label.padEnd(width)}  ${t.value} (${t.detail})`),
    ].join("\n");
  }
}

/**
 * The network panel from plain numbers.
 *
 * @example
 * ```ts
 * import { networkPanel } from "./network_panel.ts";
 * declare const chain: import("../chain/protocol.ts").ProtocolClient;
 * const panel = networkPanel({
 *   jobs: await chain.metrics.jobVolume(),
 *   stakers: await chain.metrics.activeStakers(),
 *   verificationOverhead: { verified: 40, compute: 320, unit: "steps" }, // 12.5%
 * });
 * ```
 */
export function networkPanel(data: NetworkPanelData): NetworkPanel {
  return new NetworkPanel(data);
}

/**
 * What {@link loadNetworkPanel} reads job volume and stakers from: a protocol client
 * (`network.chain`) is one.
 */
export interface NetworkMetricsSource {
  /** The protocol's metric readers. */
  readonly metrics: {
    /** Jobs created and settled, and the value that moved. */
    jobVolume(params?: RangeParams): Promise<JobVolume>;
    /** Accounts with stake. */
    activeStakers(
      params?: RangeParams,
    ): Promise<Pick<StakerStats, "activeStakers" | "totalStakedWei">>;
  };
  /** The verifier registry; without it the panel counts stakers as verifiers. */
  readonly verifiers?: {
    /** Registered verifiers eligible to be drawn, as of `blockNumber`. */
    list(params?: { blockNumber?: bigint }): Promise<readonly string[]>;
  };
}

/** A market whose trades count towards Delphi activity: a Delphi `Market` handle is one. */
export interface MarketHistorySource {
  /** Trades in order, from `fromBlock` on. */
  history(fromBlock?: bigint): Promise<readonly TradeRecord[]>;
}

/** Options of {@link loadNetworkPanel}. */
export interface LoadNetworkPanelOptions extends RangeParams {
  /** Markets whose trades make the Delphi activity; `n/a` without them. */
  markets?: readonly MarketHistorySource[];
  /** Measured verification overhead; `n/a` without it. */
  verificationOverhead?: VerificationOverhead;
  /** Title. Default `"Network"`. */
  title?: string;
}

/**
 * Reads the panel's numbers: job volume and stakers from the protocol's metrics (over the block
 * range), and Delphi activity from the given markets' trade histories.
 *
 * @example
 * ```ts
 * import { loadNetworkPanel } from "./network_panel.ts";
 * import { show } from "./display.ts";
 * declare const chain: import("../chain/protocol.ts").ProtocolClient;
 * declare const market: import("../delphi/client.ts").Market;
 * await show(await loadNetworkPanel(chain, {
 *   markets: [market],
 *   verificationOverhead: { verified: 20, compute: 120, unit: "steps" },
 * }));
 * ```
 */
export async function loadNetworkPanel(
  chain: NetworkMetricsSource,
  options: LoadNetworkPanelOptions = {},
): Promise<NetworkPanel> {
  const range = { fromBlock: options.fromBlock, toBlock: options.toBlock };
  const inRange = (t: TradeRecord) =>
    (range.fromBlock === undefined || t.blockNumber >= range.fromBlock) &&
    (range.toBlock === undefined || t.blockNumber <= range.toBlock);
  const [jobs, stakers, verifiers, histories] = await Promise.all([
    chain.metrics.jobVolume(range),
    chain.metrics.activeStakers(range),
    chain.verifiers?.list(range.toBlock === undefined ? {} : { blockNumber: range.toBlock }),
    options.markets === undefined ? undefined : Promise.all(
      options.markets.map(async (m) => (await m.history(range.fromBlock)).filter(inRange)),
    ),
  ]);
  return new NetworkPanel({
    jobs,
    stakers: { activeStakers: stakers.activeStakers, totalStakedWei: stakers.totalStakedWei },
    verifiers: verifiers?.length,
    delphi: histories === undefined ? undefined : delphiActivity(histories),
    verificationOverhead: options.verificationOverhead,
    title: options.title,
  });
}
