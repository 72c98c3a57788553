/**
 * Entry point of `deno task bench <area>`: runs `bench/<area>.ts`, which prints
 * `figure NAME VALUE UNIT` lines. With no area, lists the areas.
 *
 * @module
 */

const areas = [...Deno.readDirSync(new URL(".", import.meta.url))]
  .map((e) => e.name)
  .filter((n) => n.endsWith(".ts") && !["main.ts", "figure.ts"].includes(n) && !n.startsWith("_"))
  .map((n) => n.slice(0, -3))
  .sort();

const area = Deno.args[0];
if (!area || !areas.includes(area)) {
  console.error(
    `usage: deno task bench <area> [args...]\nareas: ${areas.join(", ")}` +
      (area ? `\nunknown area "${area}"` : ""),
  );
  Deno.exit(2);
}
await import(new URL(`./${area}.ts`, import.meta.url).href);
