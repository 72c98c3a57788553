/**
 * The one output format of every bench: `figure NAME VALUE UNIT`, one line per figure.
 *
 * @module
 */

/** Prints one figure line; numbers are printed with up to 6 significant digits. */
export function figure(name: string, value: number, unit: string): void {
  const text = Number.isInteger(value) ? String(value) : Number(value.toPrecision(6)).toString();
  console.log(`figure ${name} ${text} ${unit}`);
}
