/**
 * `deno task kernel:install`: installs this project's Jupyter kernel ("Deno (verifiable
 * training)", name `gensyn-deno`) for the Deno that runs this script.
 *
 * Options: `--user` (default: the user's Jupyter data folder, `$JUPYTER_DATA_DIR` when set),
 * `--prefix DIR` (into `DIR/share/jupyter/kernels`, e.g. a virtual environment). Running it again
 * is harmless: an identical spec is left as it is.
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  installKernelSpec,
  KERNEL_DISPLAY_NAME,
  KERNEL_NAME,
  kernelDenoPath,
} from "../lib/notebook/kernelspec.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    user: { type: "boolean", default: false },
    prefix: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log("usage: deno task kernel:install [--user | --prefix DIR]");
  Deno.exit(0);
}
if (values.user && values.prefix !== undefined) {
  console.error("kernel:install: give --user or --prefix, not both");
  Deno.exit(2);
}

const { dir, spec, changed } = await installKernelSpec(
  values.prefix === undefined ? {} : { prefix: values.prefix },
);
console.log(
  `${changed ? "installed" : "already installed:"} kernel ${KERNEL_NAME} ` +
    `("${KERNEL_DISPLAY_NAME}") in ${dir}`,
);
console.log(`it runs ${kernelDenoPath(spec)}; pick "${KERNEL_DISPLAY_NAME}" in Jupyter`);
