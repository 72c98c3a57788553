/**
 * Execution profiles: everything that affects the bits a training step produces, pinned by name.
 *
 * Hash-based verification needs two runs of the same step to give identical bytes. A profile pins
 * the tfjs version, the backend, the wasm build (SIMD or scalar kernels) and the thread count.
 * What we measured on x86-64 under Deno 2.9:
 *
 * - `cpu` (tfjs' pure-JS kernels) is bitwise reproducible across processes.
 * - `wasm` with SIMD is bitwise reproducible across processes. Its SIMD and scalar builds run
 *   different XNNPACK kernels (different accumulation order), so they are distinct profiles.
 * - The threaded wasm build needs cross-origin isolation, which Deno does not provide, so the
 *   backend always runs one thread here; profiles pin `threads: 1` and refuse anything else
 *   rather than silently run a different kernel schedule.
 * - The wasm profiles install the project's kernel set (`lib/exec/kernels/`): the gradient
 *   kernels tfjs-backend-wasm lacks, fused and native kernels. Its version is part of their ids
 *   (`+k1`), since any change to it changes the bits.
 *
 * Backends are global to the tfjs engine, so one process runs one profile at a time.
 *
 * @module
 */

import * as tf from "npm:@tensorflow/tfjs@4.22.0";
import "npm:@tensorflow/tfjs-backend-wasm@4.22.0";
import { getThreadsCount } from "npm:@tensorflow/tfjs-backend-wasm@4.22.0";
import { ProfileMismatchError } from "../core/errors.ts";
import { installKernelSet, KERNEL_SET_VERSION } from "./kernels/mod.ts";

// Importing the wasm backend registers it as the highest-priority backend, but it initialises
// asynchronously, so models built before a profile is activated would fail with "backend not yet
// initialized". Start on the synchronous cpu backend; activateProfile() switches.
void tf.setBackend("cpu");
// Production mode: skips debug-only checks and the console banner suggesting tfjs-node, which
// cannot be installed here.
tf.env().set("PROD", true);

/** The tfjs version every profile pins. */
export const TFJS_VERSION = "4.22.0";

/** A named, pinned execution environment. */
export interface ExecutionProfile {
  /** Stable identifier, e.g. `wasm-simd-1t+k1@tfjs-4.22.0` (`+k1`: the wasm kernel set's version). */
  readonly id: string;
  /** tfjs backend name. */
  readonly backend: "cpu" | "wasm";
  /** tfjs version the profile was defined for. */
  readonly tfjs: string;
  /** Whether the wasm backend runs its SIMD build (always false for `cpu`). */
  readonly simd: boolean;
  /** Backend threads. */
  readonly threads: number;
  /** Floating-point dtype of every tensor. */
  readonly dtype: "float32";
}

function profile(backend: "cpu" | "wasm", simd: boolean): ExecutionProfile {
  const name = backend === "cpu"
    ? "cpu"
    : `${simd ? "wasm-simd-1t" : "wasm-1t"}+k${KERNEL_SET_VERSION}`;
  return {
    id: `${name}@tfjs-${TFJS_VERSION}`,
    backend,
    tfjs: TFJS_VERSION,
    simd,
    threads: 1,
    dtype: "float32",
  };
}

/** Every profile this build supports, by id. The first is the default. */
export const PROFILES: readonly ExecutionProfile[] = [
  profile("wasm", true),
  profile("wasm", false),
  profile("cpu", false),
];

/** Short aliases accepted wherever a profile id is: `wasm` (SIMD), `wasm-scalar`, `cpu`. */
const ALIASES: Record<string, string> = {
  wasm: PROFILES[0].id,
  "wasm-simd": PROFILES[0].id,
  "wasm-simd-1t": PROFILES[0].id,
  "wasm-scalar": PROFILES[1].id,
  "wasm-1t": PROFILES[1].id,
  cpu: PROFILES[2].id,
};

/** The default profile: the fastest reproducible one (`wasm-simd-1t`). */
export const DEFAULT_PROFILE: ExecutionProfile = PROFILES[0];

/**
 * Looks up a profile by id or alias.
 *
 * @example
 * ```ts
 * import { getProfile } from "./profile.ts";
 * console.log(getProfile("wasm").id); // "wasm-simd-1t+k1@tfjs-4.22.0"
 * ```
 */
export function getProfile(idOrAlias: string): ExecutionProfile {
  const id = ALIASES[idOrAlias] ?? idOrAlias;
  const found = PROFILES.find((p) => p.id === id);
  if (!found) {
    throw new ProfileMismatchError(
      "PROFILE_UNKNOWN",
      `unknown execution profile "${idOrAlias}"; use one of ${
        PROFILES.map((p) => p.id).join(", ")
      } (or the aliases ${Object.keys(ALIASES).join(", ")})`,
      { value: idOrAlias },
    );
  }
  return found;
}

let activeProfile: ExecutionProfile | undefined;
let wasmSimd: boolean | undefined;

/** The activation in flight: activations run one at a time (tfjs cannot start a backend twice at once). */
let activating: Promise<unknown> = Promise.resolve();

/**
 * Switches the tfjs engine to a profile and checks that what runs is what the profile pins.
 * Concurrent calls (several nodes of one process starting at once) run one after the other.
 *
 * The wasm backend chooses its SIMD or scalar build once per process; asking for the other one
 * later fails with `PROFILE_PROCESS_BOUND`.
 *
 * @example
 * ```ts
 * import { activateProfile } from "./profile.ts";
 * await activateProfile("cpu");
 * ```
 */
export function activateProfile(
  profileOrId: ExecutionProfile | string,
): Promise<ExecutionProfile> {
  const run = activating.then(() => activateNow(profileOrId));
  activating = run.catch(() => {});
  return run;
}

async function activateNow(profileOrId: ExecutionProfile | string): Promise<ExecutionProfile> {
  const p = typeof profileOrId === "string" ? getProfile(profileOrId) : getProfile(profileOrId.id);
  if (activeProfile?.id === p.id && tf.getBackend() === p.backend) return p;
  if (p.backend === "wasm") {
    if (wasmSimd !== undefined && wasmSimd !== p.simd) {
      throw new ProfileMismatchError(
        "PROFILE_PROCESS_BOUND",
        `this process already loaded the ${wasmSimd ? "SIMD" : "scalar"} wasm build; ` +
          `profile ${p.id} needs the other one: run it in a separate process`,
        { value: p.id },
      );
    }
    if (wasmSimd === undefined) {
      const hasSimd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
      if (p.simd && !hasSimd) {
        throw new ProfileMismatchError(
          "PROFILE_UNSUPPORTED",
          `profile ${p.id} needs WebAssembly SIMD, which this runtime lacks; use ${PROFILES[1].id}`,
          { value: p.id },
        );
      }
      // Pin the build before the backend initialises; it reads these flags once.
      tf.env().set("WASM_HAS_SIMD_SUPPORT", p.simd);
      tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
      wasmSimd = p.simd;
    }
    installKernelSet("wasm", { simd: p.simd });
  }
  const ok = await tf.setBackend(p.backend);
  await tf.ready();
  if (!ok || tf.getBackend() !== p.backend) {
    throw new ProfileMismatchError(
      "PROFILE_BACKEND_FAILED",
      `could not start the tfjs ${p.backend} backend for profile ${p.id}; check that ` +
        "@tensorflow/tfjs-backend-wasm is installed (deno install) or pick the cpu profile",
      { value: p.id },
    );
  }
  if (p.backend === "wasm" && getThreadsCount() !== p.threads) {
    throw new ProfileMismatchError(
      "PROFILE_THREADS",
      `profile ${p.id} pins ${p.threads} thread(s) but the wasm backend runs ${getThreadsCount()}`,
      { value: getThreadsCount() },
    );
  }
  if (tf.version.tfjs !== p.tfjs) {
    throw new ProfileMismatchError(
      "PROFILE_TFJS_VERSION",
      `profile ${p.id} pins tfjs ${p.tfjs} but ${tf.version.tfjs} is loaded; pin ` +
        `npm:@tensorflow/tfjs@${p.tfjs} in deno.json`,
      { value: tf.version.tfjs },
    );
  }
  activeProfile = p;
  return p;
}

/**
 * Fails with `PROFILE_MISMATCH` unless `expected` is the active profile; a node calls this before
 * running or replaying work pinned to a profile.
 */
export function assertActiveProfile(expected: string): void {
  const want = getProfile(expected);
  if (activeProfile?.id !== want.id || tf.getBackend() !== want.backend) {
    throw new ProfileMismatchError(
      "PROFILE_MISMATCH",
      `work pins profile ${want.id} but this process runs ${
        activeProfile?.id ?? tf.getBackend()
      }; call activateProfile("${want.id}") first (or start the node with --profile ${want.id})`,
      { value: { expected: want.id, actual: activeProfile?.id } },
    );
  }
}

/** The profile the engine runs now, if one was activated. */
export function currentProfile(): ExecutionProfile | undefined {
  return activeProfile;
}
