/**
 * A Delphi market, drawn: every outcome's price over the market's trades, the current prices, the
 * positions of chosen accounts with what they are worth (or pay, once settled), the latest
 * trades, and the resolution state with its winners.
 *
 * {@link marketView} builds the view from plain data (a market's `history()`, `prices()`,
 * `positions()` and `info()` results); {@link loadMarketView} reads all of that from a `Market`
 * handle. Plots go through Observable Plot (`plot.ts`) like every notebook view; under `deno run`
 * the view prints a few lines.
 *
 * @module
 */

import type { MarketPhase, Position, TradeRecord } from "../delphi/market_state.ts";
import { SpecError } from "../core/errors.ts";
import { escapeHtml, type MimeBundle, RichView, shortHash } from "./display.ts";
import { Plot, renderPlot } from "./plot.ts";

/** A token as amounts are shown: its symbol and decimals. */
export interface TokenUnit {
  /** Symbol, e.g. `USD` or `AIGENSYN`. */
  readonly symbol: string;
  /** Decimals of its base unit. */
  readonly decimals: number;
}

/** The devnet stable token Delphi trades in (6 decimals). */
export const STABLE_UNIT: TokenUnit = { symbol: "USD", decimals: 6 };

/** One account's shares in every outcome of a market. */
export interface AccountPositions {
  /** Name shown for the account, e.g. `alice`. */
  readonly label: string;
  /** The account. */
  readonly account: string;
  /** Its positions, one per outcome, as `market.positions(account)` returns them. */
  readonly positions: readonly Position[];
}

/** Data of {@link marketView}. */
export interface MarketViewData {
  /** Outcome names, in outcome order (e.g. `model A (20 steps)`). */
  readonly outcomes: readonly string[];
  /** Current price of every outcome, fractions in [0, 1]. */
  readonly prices: readonly number[];
  /** The market's trades in order (`market.history()`). Default none. */
  readonly history?: readonly TradeRecord[];
  /** Positions of accounts to show. Default none. */
  readonly positions?: readonly AccountPositions[];
  /** Life stage. Default `Trading`. */
  readonly phase?: MarketPhase;
  /** Winning outcome indices, once resolved. Default none. */
  readonly winners?: readonly number[];
  /** The market's question. */
  readonly question?: string;
  /** Market id. */
  readonly marketId?: bigint;
  /** The collateral; shares count in its base units too. Default {@link STABLE_UNIT}. */
  readonly collateral?: TokenUnit;
  /** Latest trades listed in the table. Default 8. */
  readonly recentTrades?: number;
}

/** One point of the price chart: an outcome's price after trade `trade` (0 = the opening). */
export interface PricePoint {
  /** Trades so far. */
  readonly trade: number;
  /** Outcome name. */
  readonly outcome: string;
  /** Price, a fraction in [0, 1]. */
  readonly price: number;
}

/** Colours of outcomes, in outcome order (Observable Plot's `tableau10`, cycled). */
export const OUTCOME_COLORS: readonly string[] = [
  "#4e79a7",
  "#f28e2c",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc949",
  "#af7aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ab",
];

const PHASE_COLORS: Readonly<Record<MarketPhase, string>> = {
  Trading: "#1f6fb4",
  Closed: "#868e96",
  Resolved: "#2b8a3e",
  Expired: "#e67700",
  Voided: "#c92a2a",
};

const HISTORY_SIZE = { width: 560, height: 260 } as const;
/** Least vertical gap between two outcome names at the right end of the price chart. */
const LABEL_GAP_PERCENT = 7;
const BARS_SIZE = { width: 340, height: 260 } as const;

/**
 * A Delphi market: prices over time, current prices, positions, resolution. Build it with
 * {@link marketView} or {@link loadMarketView}.
 */
export class DelphiMarketView extends RichView {
  /** Outcome names. */
  readonly outcomes: readonly string[];
  /** Current prices. */
  readonly prices: readonly number[];
  /** Trades in order. */
  readonly history: readonly TradeRecord[];
  /** Positions shown. */
  readonly positions: readonly AccountPositions[];
  /** Life stage. */
  readonly phase: MarketPhase;
  /** Winning outcomes (empty until resolved). */
  readonly winners: readonly number[];
  /** The question, if given. */
  readonly question: string | undefined;
  /** Market id, if given. */
  readonly marketId: bigint | undefined;
  /** The collateral. */
  readonly collateral: TokenUnit;
  readonly #recent: number;

  /** Checks that every part speaks of the same outcomes; fails with `SPEC_MARKET_VIEW`. */
  constructor(data: MarketViewData) {
    super();
    const n = data.outcomes.length;
    const fail = (what: string, value: unknown): never => {
      throw new SpecError("SPEC_MARKET_VIEW", `${what}; pass data of one market`, { value });
    };
    if (n < 2) fail(`a market has at least 2 outcomes, got ${n}`, data.outcomes);
    if (data.prices.length !== n) {
      fail(`${data.prices.length} prices for ${n} outcomes`, data.prices);
    }
    for (const t of data.history ?? []) {
      if (t.prices.length !== n || t.outcome < 0 || t.outcome >= n) {
        fail(`trade ${t.hash} has ${t.prices.length} prices or outcome ${t.outcome}`, t);
      }
    }
    for (const a of data.positions ?? []) {
      if (a.positions.some((p) => p.outcome < 0 || p.outcome >= n)) {
        fail(`a position of ${a.label} names an outcome outside 0..${n - 1}`, a);
      }
    }
    for (const w of data.winners ?? []) {
      if (!Number.isInteger(w) || w < 0 || w >= n) fail(`winner ${w} is not an outcome`, w);
    }
    this.outcomes = data.outcomes;
    this.prices = data.prices;
    this.history = data.history ?? [];
    this.positions = data.positions ?? [];
    this.phase = data.phase ?? "Trading";
    this.winners = data.winners ?? [];
    this.question = data.question;
    this.marketId = data.marketId;
    this.collateral = data.collateral ?? STABLE_UNIT;
    this.#recent = data.recentTrades ?? 8;
  }

  /** Every outcome's price at the opening (equal, as LMSR opens) and after each trade. */
  pricePoints(): PricePoint[] {
    const n = this.outcomes.length;
    const points: PricePoint[] = this.outcomes.map((outcome) => ({
      trade: 0,
      outcome,
      price: 1 / n,
    }));
    this.history.forEach((t, i) => {
      t.prices.forEach((price, o) =>
        points.push({ trade: i + 1, outcome: this.outcomes[o], price })
      );
    });
    return points;
  }

  /** Collateral traded (fees excluded) and fees paid, summed over the history. */
  volume(): { collateral: bigint; fees: bigint } {
    return this.history.reduce(
      (acc, t) => ({ collateral: acc.collateral + t.collateral, fees: acc.fees + t.fee }),
      { collateral: 0n, fees: 0n },
    );
  }

  /**
   * What a position pays or is worth now: once resolved, one unit per winning share split among
   * tied winners; voided or expired, nothing (the market refunds deposits, not shares); otherwise
   * (trading, closed) its value at the current prices.
   */
  worth(position: Position): bigint {
    if (this.phase === "Resolved") {
      return this.winners.includes(position.outcome)
        ? position.shares / BigInt(this.winners.length)
        : 0n;
    }
    // A market that named no winner pays no share: it refunds each account's deposit instead.
    if (this.phase === "Voided" || this.phase === "Expired") return 0n;
    return position.value;
  }

  /** Prices over the trades as an SVG string: one line per outcome, named at its end. */
  historySvg(): string {
    const points = this.pricePoints();
    const last = this.history.length;
    const ends = endLabels(
      this.outcomes.map((outcome, i) => ({
        outcome,
        percent: 100 * (this.history[last - 1]?.prices[i] ?? 1 / this.outcomes.length),
      })),
      LABEL_GAP_PERCENT,
    );
    return renderPlot({
      width: HISTORY_SIZE.width,
      height: HISTORY_SIZE.height,
      marginLeft: 44,
      marginRight: 130,
      color: { domain: [...this.outcomes], range: this.#colors() },
      x: { label: "trades", domain: [0, Math.max(1, last)], ticks: Math.min(8, Math.max(1, last)) },
      y: { label: "price (%)", domain: [0, 100], grid: true },
      marks: [
        Plot.line(points, {
          x: "trade",
          y: (p: PricePoint) => 100 * p.price,
          z: "outcome",
          stroke: "outcome",
          strokeWidth: 2,
          curve: "step-after",
        }),
        Plot.dot(points, {
          x: "trade",
          y: (p: PricePoint) => 100 * p.price,
          fill: "outcome",
          r: 2.5,
        }),
        Plot.text(ends, {
          x: () => last,
          y: "y",
          text: (e: EndLabel) => `${truncate(e.outcome, 16)} ${e.percent.toFixed(0)}%`,
          fill: "outcome",
          textAnchor: "start",
          dx: 8,
        }),
      ],
    });
  }

  /** Current prices as an SVG string: one bar per outcome, winners marked. */
  pricesSvg(): string {
    const rows = this.outcomes.map((outcome, i) => ({
      outcome,
      percent: 100 * this.prices[i],
      winner: this.winners.includes(i),
    }));
    return renderPlot({
      width: BARS_SIZE.width,
      height: BARS_SIZE.height,
      marginLeft: 110,
      marginRight: 40,
      color: { domain: [...this.outcomes], range: this.#colors() },
      x: {
        label: this.phase === "Trading" ? "price now (%)" : "final price (%)",
        domain: [0, 100],
        grid: true,
      },
      y: { label: null, domain: [...this.outcomes], tickFormat: (s: string) => truncate(s, 16) },
      marks: [
        Plot.barX(rows, { y: "outcome", x: "percent", fill: "outcome" }),
        Plot.text(rows, {
          y: "outcome",
          x: "percent",
          text: (r: { percent: number; winner: boolean }) =>
            `${r.percent.toFixed(1)}%${r.winner ? " ✓" : ""}`,
          textAnchor: "start",
          dx: 4,
        }),
      ],
    });
  }

  /** The view as HTML: header and resolution, both charts, positions and recent trades. */
  toHtml(): string {
    return `<div data-gensyn="market-view" data-market-phase="${this.phase}" ` +
      `style="font-family:system-ui,sans-serif;font-size:13px;max-width:${
        HISTORY_SIZE.width + BARS_SIZE.width + 16
      }px">` +
      this.#headerHtml() +
      `<div style="display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start">` +
      `<div>${this.historySvg()}</div><div>${this.pricesSvg()}</div></div>` +
      this.#positionsHtml() + this.#tradesHtml() + `</div>`;
  }

  /** The view as a `text/html` bundle. */
  toBundle(): MimeBundle {
    return { "text/html": this.toHtml() };
  }

  /** A few lines: phase and winners, prices, volume, positions. */
  toString(): string {
    const head = [
      this.marketId === undefined ? "market" : `market #${this.marketId}`,
      this.phase,
      ...(this.winners.length > 0
        ? [`winner${this.winners.length > 1 ? "s" : ""} ${this.#winnerNames()}`]
        : []),
    ].join(" · ");
    const lines = [this.question ? `${head} · ${this.question}` : head];
    lines.push(
      "  " + this.outcomes.map((o, i) => `${o} ${(100 * this.prices[i]).toFixed(1)}%`).join(", "),
    );
    const { collateral, fees } = this.volume();
    lines.push(
      `  ${this.history.length} trades, volume ${this.#amount(collateral)}, fees ${
        this.#amount(fees)
      }`,
    );
    for (const a of this.positions) {
      const held = a.positions.filter((p) => p.shares > 0n);
      const worth = held.reduce((s, p) => s + this.worth(p), 0n);
      lines.push(
        `  ${a.label}: ` +
          (held.length === 0
            ? "no shares"
            : held.map((p) =>
              `${formatAmount(p.shares, this.collateral.decimals)} ${this.outcomes[p.outcome]}`
            ).join(", ") +
              ` (${this.#worthLabel()} ${this.#amount(worth)})`),
      );
    }
    return lines.join("\n");
  }

  /** What a position's amount means in this phase. */
  #worthLabel(): string {
    if (this.phase === "Resolved") return "pays";
    if (this.phase === "Voided" || this.phase === "Expired") {
      return "shares pay (deposits refunded)";
    }
    return "worth";
  }

  #colors(): string[] {
    return this.outcomes.map((_, i) => OUTCOME_COLORS[i % OUTCOME_COLORS.length]);
  }

  #amount(value: bigint): string {
    return `${formatAmount(value, this.collateral.decimals)} ${this.collateral.symbol}`;
  }

  #winnerNames(): string {
    return this.winners.map((w) => this.outcomes[w]).join(", ");
  }

  #headerHtml(): string {
    const badge = `<span data-market-phase-badge style="color:white;background:${
      PHASE_COLORS[this.phase]
    };border-radius:3px;padding:0 6px;font-weight:600">${this.phase}</span>`;
    const id = this.marketId === undefined ? "Market" : `Market #${this.marketId}`;
    const { collateral, fees } = this.volume();
    const winners = this.winners.map((w) =>
      `<span data-winner="${w}" style="font-weight:600;color:${
        OUTCOME_COLORS[w % OUTCOME_COLORS.length]
      }">${escapeHtml(this.outcomes[w])}</span>`
    ).join(", ");
    return `<div><b>${id}</b> ${badge}` +
      (this.question ? ` ${escapeHtml(this.question)}` : "") + `</div>` +
      `<div style="color:#555">${this.outcomes.length} outcomes · ${this.history.length} trades` +
      ` · volume ${this.#amount(collateral)} · fees ${this.#amount(fees)}` +
      (winners ? ` · winner${this.winners.length > 1 ? "s" : ""}: ${winners}` : "") +
      `</div>`;
  }

  #positionsHtml(): string {
    if (this.positions.length === 0) return "";
    const worthLabel = this.phase === "Trading" || this.phase === "Closed"
      ? "worth now"
      : this.#worthLabel();
    const head = ["account", ...this.outcomes, worthLabel].map((h) =>
      `<th style="text-align:left;padding:2px 12px 2px 0;border-bottom:1px solid #ccc">${
        escapeHtml(h)
      }</th>`
    ).join("");
    const rows = this.positions.map((a) => {
      const byOutcome = new Map(a.positions.map((p) => [p.outcome, p]));
      const worth = a.positions.reduce((s, p) => s + this.worth(p), 0n);
      return `<tr data-account="${escapeHtml(a.account)}">` +
        cell(a.label, `title="${escapeHtml(a.account)}"`) +
        this.outcomes.map((_, o) => {
          const shares = byOutcome.get(o)?.shares ?? 0n;
          return cell(shares === 0n ? "–" : formatAmount(shares, this.collateral.decimals));
        }).join("") +
        cell(this.#amount(worth), `data-worth="${worth}"`) + `</tr>`;
    }).join("");
    return `<div style="margin-top:6px"><b>Positions</b> <span style="color:#666">(shares; ` +
      `one share pays one ${escapeHtml(this.collateral.symbol)} base unit if its outcome wins)` +
      `</span></div><table data-gensyn="market-positions" style="border-collapse:collapse">` +
      `<thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
  }

  #tradesHtml(): string {
    if (this.history.length === 0) return "";
    const names = new Map(this.positions.map((a) => [a.account.toLowerCase(), a.label]));
    const shown = this.history.slice(-this.#recent);
    const first = this.history.length - shown.length;
    const head = ["#", "trader", "side", "outcome", "shares", "paid / received", "price after"]
      .map((h) =>
        `<th style="text-align:left;padding:2px 12px 2px 0;border-bottom:1px solid #ccc">${h}</th>`
      ).join("");
    const rows = shown.map((t, i) => {
      const total = t.side === "buy" ? t.collateral + t.fee : t.collateral - t.fee;
      return `<tr data-trade="${first + i + 1}">` +
        cell(String(first + i + 1)) +
        cell(names.get(t.trader.toLowerCase()) ?? shortHash(t.trader, 10)) +
        cell(t.side) + cell(this.outcomes[t.outcome]) +
        cell(formatAmount(t.shares, this.collateral.decimals)) + cell(this.#amount(total)) +
        cell(`${(100 * t.prices[t.outcome]).toFixed(1)}%`) + `</tr>`;
    }).join("");
    const more = first > 0 ? ` <span style="color:#666">(last ${shown.length})</span>` : "";
    return `<div style="margin-top:6px"><b>Trades</b>${more}</div>` +
      `<table data-gensyn="market-trades" style="border-collapse:collapse">` +
      `<thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
  }
}

/**
 * A market view from plain data.
 *
 * @example
 * ```ts
 * import { marketView } from "./market_view.ts";
 * const view = marketView({ outcomes: ["small", "large"], prices: [0.3, 0.7], phase: "Closed" });
 * console.log(String(view)); // market · Closed
 * ```
 */
export function marketView(data: MarketViewData): DelphiMarketView {
  return new DelphiMarketView(data);
}

/**
 * What {@link loadMarketView} reads from a market: a Delphi `Market` handle (`delphi(client)
 * .market(id)`) is one.
 */
export interface MarketSource {
  /** Market id. */
  readonly id: bigint;
  /** Stored state: phase, winners, outcome count. */
  info(): Promise<
    { readonly phase: MarketPhase; readonly winners: readonly number[]; outcomeCount: number }
  >;
  /** Current prices. */
  prices(): Promise<{ readonly prices: readonly number[] }>;
  /** Trades in order. */
  history(): Promise<readonly TradeRecord[]>;
  /** Positions of an account. */
  positions(account: `0x${string}`): Promise<readonly Position[]>;
}

/** Options of {@link loadMarketView}. */
export interface LoadMarketViewOptions {
  /** Outcome names in outcome order. Default `outcome 0`, `outcome 1`, ... */
  outcomes?: readonly string[];
  /** Accounts whose positions to show, by name: `{ alice: "0x…", bob: "0x…" }`. Default none. */
  accounts?: Readonly<Record<string, `0x${string}`>>;
  /** The question (the chain keeps it in the creation event only). */
  question?: string;
  /** The collateral. Default {@link STABLE_UNIT}. */
  collateral?: TokenUnit;
  /** Latest trades listed. Default 8. */
  recentTrades?: number;
}

/**
 * Reads a market's state, prices, history and the named accounts' positions, and builds its
 * view.
 *
 * @example
 * ```ts
 * import { loadMarketView } from "./market_view.ts";
 * import { show } from "./display.ts";
 * declare const market: import("../delphi/client.ts").Market;
 * declare const alice: `0x${string}`, bob: `0x${string}`;
 * await show(await loadMarketView(market, {
 *   outcomes: ["20 steps", "80 steps", "300 steps"],
 *   accounts: { alice, bob },
 * }));
 * ```
 */
export async function loadMarketView(
  market: MarketSource,
  options: LoadMarketViewOptions = {},
): Promise<DelphiMarketView> {
  const [info, prices, history] = await Promise.all([
    market.info(),
    market.prices(),
    market.history(),
  ]);
  const accounts = Object.entries(options.accounts ?? {});
  const positions = await Promise.all(accounts.map(async ([label, account]) => ({
    label,
    account,
    positions: await market.positions(account),
  })));
  return new DelphiMarketView({
    outcomes: options.outcomes ??
      Array.from({ length: info.outcomeCount }, (_, i) => `outcome ${i}`),
    prices: prices.prices,
    history,
    positions,
    phase: info.phase,
    winners: info.winners,
    question: options.question,
    marketId: market.id,
    collateral: options.collateral,
    recentTrades: options.recentTrades,
  });
}

/**
 * An amount in base units as decimal text with thousands separators, rounded half up to
 * `fractionDigits` (default 2): `formatAmount(1234567891n, 6)` is `"1,234.57"`. Exact: no
 * floating point.
 */
export function formatAmount(value: bigint, decimals: number, fractionDigits = 2): string {
  const negative = value < 0n;
  let v = negative ? -value : value;
  const keep = Math.min(fractionDigits, decimals);
  const drop = 10n ** BigInt(decimals - keep);
  v = (v + drop / 2n) / drop;
  const scale = 10n ** BigInt(keep);
  const whole = (v / scale).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const fraction = keep > 0 ? (v % scale).toString().padStart(keep, "0").replace(/0+$/, "") : "";
  return `${negative && v > 0n ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** An outcome's name at the right end of the price chart. */
interface EndLabel {
  readonly outcome: string;
  readonly percent: number;
  /** Where the name sits, in price percent: at its price, unless another name is too close. */
  readonly y: number;
}

/**
 * Places each outcome's name at its final price, moving names apart (upwards first, then down
 * from the top) so that no two are closer than `gap` percent.
 */
function endLabels(
  finals: readonly { outcome: string; percent: number }[],
  gap: number,
): EndLabel[] {
  const sorted = [...finals].sort((a, b) => a.percent - b.percent);
  const ys = sorted.map((f) => f.percent);
  for (let i = 1; i < ys.length; i++) ys[i] = Math.max(ys[i], ys[i - 1] + gap);
  ys[ys.length - 1] = Math.min(ys[ys.length - 1], 100);
  for (let i = ys.length - 2; i >= 0; i--) ys[i] = Math.min(ys[i], ys[i + 1] - gap);
  return sorted.map((f, i) => ({ ...f, y: ys[i] }));
}

function truncate(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function cell(text: string, attributes = ""): string {
  return `<td ${attributes} style="padding:2px 12px 2px 0;text-align:left">${
    escapeHtml(text)
  }</td>`;
}
