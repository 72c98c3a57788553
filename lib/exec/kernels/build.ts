/**
 * Build of the native kernels: compiles `native.c` to WebAssembly twice (with and without SIMD)
 * and renders `native_wasm.ts`, which embeds both modules and the SHA-256 of the source they came
 * from. `deno task kernels` runs this module; a test checks that the embedded modules belong to
 * the current source (and, where clang is installed, that a fresh build gives the same bytes).
 *
 * The modules import the tfjs wasm backend's memory and must never touch memory of their own, so
 * the build refuses a module with a data segment or one that uses the linker's stack pointer (a
 * function that spilled to a stack would write into the tfjs heap).
 *
 * Needs clang and wasm-ld with the WebAssembly target (Debian: `apt-get install clang-16 lld-16`);
 * set `$CLANG` to use another clang.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { SpecError } from "../../core/errors.ts";

/** The C source of the native kernels. */
export const NATIVE_SOURCE: URL = new URL("./native.c", import.meta.url);
/** The generated module embedding the compiled kernels. */
export const NATIVE_ARTIFACT: URL = new URL("./native_wasm.ts", import.meta.url);

/** Compiler flags: optimise, no libc, no contraction into fused multiply-adds, saturating casts. */
const CFLAGS = [
  "--target=wasm32",
  "-O3",
  "-nostdlib",
  "-fno-builtin",
  "-ffp-contract=off",
  "-mnontrapping-fptoint",
  "-Wall",
  "-Werror",
  "-Wl,--no-entry",
  "-Wl,--import-memory",
  "-Wl,--initial-memory=65536",
  "-Wl,-z,stack-size=0",
  "-Wl,--strip-all",
];

/** SHA-256 hex of bytes or text. */
function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

async function findClang(): Promise<string> {
  const candidates = [Deno.env.get("CLANG"), "clang-16", "clang-17", "clang-18", "clang"];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      const out = await new Deno.Command(candidate, { args: ["--version"], stdout: "null" })
        .output();
      if (out.success) return candidate;
    } catch {
      // Not installed under this name: try the next one.
    }
  }
  throw new SpecError(
    "SPEC_TOOL_MISSING",
    "no clang with the WebAssembly target was found; install it (apt-get install clang-16 lld-16) " +
      "or set $CLANG",
  );
}

/** Section ids of a wasm binary, in order (to refuse data segments). */
function sectionIds(bytes: Uint8Array): number[] {
  const ids: number[] = [];
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++];
    let size = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[at++];
      size |= (b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    ids.push(id);
    at += size;
  }
  return ids;
}

async function compile(clang: string, simd: boolean): Promise<Uint8Array> {
  const out = await Deno.makeTempFile({ suffix: ".wasm" });
  try {
    const args = [...CFLAGS, ...(simd ? ["-msimd128"] : []), "-o", out, NATIVE_SOURCE.pathname];
    const result = await new Deno.Command(clang, { args, stderr: "piped" }).output();
    if (!result.success) {
      throw new SpecError(
        "SPEC_KERNEL_BUILD",
        `compiling native.c failed:\n${new TextDecoder().decode(result.stderr)}`,
      );
    }
    const bytes = await Deno.readFile(out);
    if (sectionIds(bytes).includes(11)) {
      throw new SpecError(
        "SPEC_KERNEL_BUILD",
        "the native kernels have a data segment, which would overwrite the tfjs heap; keep " +
          "native.c free of static data (tables, string or array constants)",
      );
    }
    const module = await WebAssembly.compile(bytes);
    const imports = WebAssembly.Module.imports(module);
    if (imports.length !== 1 || imports[0].kind !== "memory") {
      throw new SpecError(
        "SPEC_KERNEL_BUILD",
        `the native kernels must import only the memory; they import ${
          imports.map((i) => `${i.module}.${i.name}`).join(", ")
        }`,
      );
    }
    await refuseStackUse(out);
    return bytes;
  } finally {
    await Deno.remove(out);
  }
}

/** Fails if any function reads or writes a global (the only global is the stack pointer). */
async function refuseStackUse(path: string): Promise<void> {
  for (const objdump of ["llvm-objdump-16", "llvm-objdump"]) {
    let result;
    try {
      result = await new Deno.Command(objdump, { args: ["-d", path], stdout: "piped" }).output();
    } catch {
      continue;
    }
    if (!result.success) continue;
    const text = new TextDecoder().decode(result.stdout);
    if (/global\.(get|set)/.test(text)) {
      throw new SpecError(
        "SPEC_KERNEL_BUILD",
        "a native kernel uses the stack pointer (it spilled to linear memory, which belongs to " +
          "tfjs); simplify the function so its locals stay in registers",
      );
    }
    return;
  }
  throw new SpecError(
    "SPEC_TOOL_MISSING",
    "llvm-objdump is needed to check the native kernels; install llvm-16",
  );
}

/** Both builds of the current source and the source's hash. */
export async function buildNativeKernels(): Promise<
  { simd: Uint8Array; scalar: Uint8Array; sourceSha256: string }
> {
  const clang = await findClang();
  const source = await Deno.readTextFile(NATIVE_SOURCE);
  return {
    simd: await compile(clang, true),
    scalar: await compile(clang, false),
    sourceSha256: sha256(source),
  };
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** The text of `native_wasm.ts` for a build. */
export function renderNativeArtifact(
  build: { simd: Uint8Array; scalar: Uint8Array; sourceSha256: string },
): string {
  const wrap = (s: string) => s.match(/.{1,96}/g)!.map((line) => `  "${line}"`).join(" +\n");
  return `// Generated by \`deno task kernels\` from native.c; do not edit.

/** SHA-256 of the native.c these modules were compiled from. */
export const NATIVE_SOURCE_SHA256 = "${build.sourceSha256}";

/** SHA-256 of the SIMD build. */
export const NATIVE_SIMD_SHA256 = "${sha256(build.simd)}";

/** SHA-256 of the scalar build. */
export const NATIVE_SCALAR_SHA256 = "${sha256(build.scalar)}";

/** The SIMD build, base64. */
export const NATIVE_SIMD_WASM =
${wrap(base64(build.simd))};

/** The scalar build, base64. */
export const NATIVE_SCALAR_WASM =
${wrap(base64(build.scalar))};
`;
}

if (import.meta.main) {
  const build = await buildNativeKernels();
  await Deno.writeTextFile(NATIVE_ARTIFACT, renderNativeArtifact(build));
  console.log(
    `native kernels: simd ${build.simd.length} B, scalar ${build.scalar.length} B -> ` +
      NATIVE_ARTIFACT.pathname,
  );
}
