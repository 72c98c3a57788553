/**
 * Numeric CSV tables as datasets: one example per record, one column is the label and the rest
 * are the features, in column order.
 *
 * The syntax is RFC 4180: comma-separated fields, records ended by LF or CRLF, fields optionally
 * in double quotes (a quoted field may hold commas, newlines and `""` for a quote). Blank lines are
 * skipped. Every value must be a decimal number (`-1`, `0.5`, `1e-3`; surrounding spaces allowed);
 * anything else is an error naming its line and column, so bad data never turns into a silent 0.
 *
 * @module
 */

import { DatasetError } from "../core/errors.ts";
import { readMaybeGzip } from "./idx.ts";
import { createDataset, type Dataset } from "./dataset.ts";

/** Parameters of {@linkcode parseCsvDataset} and {@linkcode loadCsvDataset}. */
export interface CsvDatasetParams {
  /** Display name of the dataset. */
  name: string;
  /** The label column: its header name, or its 0-based index (negative counts from the end). */
  labelColumn: string | number;
  /** Number of classes, when labels are class indices. */
  numClasses?: number;
  /** Whether the first record is a header of column names; default true when `labelColumn` is a name, else false. */
  header?: boolean;
}

/** One parsed record with the 1-based line it starts on. */
interface CsvRecord {
  line: number;
  fields: string[];
}

function* records(text: string): Generator<CsvRecord> {
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let field = "";
    let ended = false;
    while (!ended) {
      if (text[i] === '"') {
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= n) {
            throw new DatasetError(
              "DATASET_BAD_VALUE",
              `line ${quoteLine}: a quoted field is never closed; add the closing " (a quote ` +
                'inside a quoted field is written "")',
              { value: quoteLine },
            );
          }
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n") line++;
          field += c;
          i++;
        }
        // Allow spaces after the closing quote, then expect a separator or the end of the record.
        while (text[i] === " " || text[i] === "\t") i++;
        if (i < n && text[i] !== "," && text[i] !== "\n" && text[i] !== "\r") {
          throw new DatasetError(
            "DATASET_BAD_VALUE",
            `line ${line}, column ${fields.length + 1}: unexpected text after a closing quote; ` +
              'quote the whole field and write a quote inside it as ""',
            { value: line },
          );
        }
      } else {
        const start = i;
        while (i < n && text[i] !== "," && text[i] !== "\n" && text[i] !== "\r") i++;
        field = text.slice(start, i);
      }
      fields.push(field);
      field = "";
      if (i >= n) {
        ended = true;
      } else if (text[i] === ",") {
        i++;
      } else {
        if (text[i] === "\r") i++;
        if (text[i] === "\n") i++;
        line++;
        ended = true;
      }
    }
    if (fields.length === 1 && fields[0].trim() === "") continue; // blank line
    yield { line: startLine, fields };
  }
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses CSV text of numbers into a dataset: the label column becomes `labels` (labelShape `[]`)
 * and every other column, in order, a feature (featureShape `[columns - 1]`).
 *
 * @example
 * ```ts
 * import { parseCsvDataset } from "./csv.ts";
 * const ds = await parseCsvDataset("x,y,class\n0.5,1,0\n2,-1,1\n", {
 *   name: "toy",
 *   labelColumn: "class",
 *   numClasses: 2,
 * });
 * console.log(ds.featureShape, ds.count); // [2] 2
 * ```
 */
export async function parseCsvDataset(text: string, params: CsvDatasetParams): Promise<Dataset> {
  if (typeof text !== "string") {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      "parseCsvDataset needs the CSV text as a string",
    );
  }
  const { name, labelColumn, numClasses } = params;
  if (typeof labelColumn !== "string" && !Number.isSafeInteger(labelColumn)) {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      `labelColumn must be a column name or an integer index, got ${labelColumn}`,
      { value: labelColumn },
    );
  }
  const hasHeader = params.header ?? typeof labelColumn === "string";
  if (typeof labelColumn === "string" && !hasHeader) {
    throw new DatasetError(
      "DATASET_INVALID_PARAM",
      `labelColumn "${labelColumn}" is a name, which needs a header row; pass header: true or ` +
        "give the column's index",
      { value: labelColumn },
    );
  }
  // Strip a UTF-8 byte order mark, which spreadsheet exports often add.
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const iterator = records(source);
  let names: string[] | undefined;
  let width = -1;
  if (hasHeader) {
    const first = iterator.next();
    if (first.done) {
      throw new DatasetError("DATASET_SHAPE_MISMATCH", "CSV is empty; expected a header row");
    }
    names = first.value.fields.map((f) => f.trim());
    width = names.length;
  }
  const values: number[] = [];
  let rows = 0;
  let label = -1;
  const resolveLabel = (columns: number): number => {
    let index: number;
    if (typeof labelColumn === "string") {
      index = names!.indexOf(labelColumn);
      if (index < 0) {
        throw new DatasetError(
          "DATASET_INVALID_PARAM",
          `no column named "${labelColumn}"; the header has ${JSON.stringify(names)}`,
          { value: labelColumn },
        );
      }
    } else {
      index = labelColumn < 0 ? columns + labelColumn : labelColumn;
      if (index < 0 || index >= columns) {
        throw new DatasetError(
          "DATASET_INVALID_PARAM",
          `labelColumn ${labelColumn} is outside the ${columns} columns; give an index in ` +
            `[0, ${columns}) or count from the end with -1`,
          { value: labelColumn },
        );
      }
    }
    if (columns < 2) {
      throw new DatasetError(
        "DATASET_SHAPE_MISMATCH",
        `the CSV has ${columns} column; it needs the label column plus at least one feature column`,
        { value: columns },
      );
    }
    return index;
  };
  if (names) label = resolveLabel(width);
  for (const { line, fields } of iterator) {
    if (width < 0) {
      width = fields.length;
      label = resolveLabel(width);
    }
    if (fields.length !== width) {
      throw new DatasetError(
        "DATASET_SHAPE_MISMATCH",
        `line ${line} has ${fields.length} fields but the ${names ? "header" : "first row"} has ` +
          `${width}; every row needs the same columns (quote fields that contain commas)`,
        { value: line },
      );
    }
    for (let c = 0; c < width; c++) {
      const raw = fields[c].trim();
      if (!DECIMAL.test(raw)) {
        const column = names ? `column ${c + 1} ("${names[c]}")` : `column ${c + 1}`;
        const hint = rows === 0 && !names
          ? "; if the first line is a header, pass header: true"
          : "; fix or remove the row (missing values must be imputed before loading)";
        throw new DatasetError(
          "DATASET_BAD_VALUE",
          `line ${line}, ${column}: ${JSON.stringify(fields[c])} is not a number${hint}`,
          { value: fields[c] },
        );
      }
      const value = Number(raw);
      if (!Number.isFinite(Math.fround(value))) {
        throw new DatasetError(
          "DATASET_BAD_VALUE",
          `line ${line}, column ${c + 1}: ${raw} is outside the float32 range (about ±3.4e38); ` +
            "rescale the column before loading",
          { value },
        );
      }
      if (
        c === label && Number.isSafeInteger(numClasses) &&
        (!Number.isInteger(value) || value < 0 || value >= numClasses!)
      ) {
        throw new DatasetError(
          "DATASET_BAD_VALUE",
          `line ${line}, column ${c + 1}: label ${raw} is not a class index in ` +
            `[0, ${numClasses}); map class names to integers 0..numClasses-1 or raise numClasses`,
          { value },
        );
      }
      values.push(value);
    }
    rows++;
  }
  if (width < 0) {
    throw new DatasetError("DATASET_SHAPE_MISMATCH", "CSV has no rows; expected at least one");
  }
  const featureCount = width - 1;
  const features = new Float32Array(rows * featureCount);
  const labels = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let k = r * featureCount;
    for (let c = 0; c < width; c++) {
      const v = values[r * width + c];
      if (c === label) labels[r] = v;
      else features[k++] = v;
    }
  }
  return await createDataset({
    name,
    featureShape: [featureCount],
    features,
    labels,
    numClasses,
  });
}

/**
 * Reads a CSV file and parses it with {@linkcode parseCsvDataset}.
 *
 * @example
 * ```ts
 * import { loadCsvDataset } from "./csv.ts";
 * const ds = await loadCsvDataset("data/iris.csv", { name: "iris", labelColumn: "species", numClasses: 3 });
 * ```
 */
export async function loadCsvDataset(path: string, params: CsvDatasetParams): Promise<Dataset> {
  // Shared with the IDX loader: typed errors for missing files and permissions, and gzip.
  const text = new TextDecoder().decode(await readMaybeGzip(path));
  try {
    return await parseCsvDataset(text, params);
  } catch (e) {
    if (e instanceof DatasetError) {
      throw new DatasetError(e.code, `${path}: ${e.message}`, { value: e.value, cause: e });
    }
    throw e;
  }
}
