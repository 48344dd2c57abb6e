// `dkv serve` runs with mimalloc's purging of freed memory turned off.
//
// Why: Bun's mimalloc hands freed pages back to the OS 100 ms after they
// empty (a "mi-scavenger" thread), and JavaScriptCore's "JSCWarmUp" thread
// faults heap blocks back in. A member allocates and frees at a steady rate,
// so the two kept undoing each other: together ~10% of the machine's CPU in
// a 3-member put benchmark on 2 cores. With MIMALLOC_PURGE_DELAY=-1 both
// threads went quiet and put throughput rose 17-35% (p99 fell) in six
// alternated runs; members' resident memory was 10-25% higher (it now stays
// at its high-water mark instead of shrinking after a burst).
//
// mimalloc reads its options from the environment once, when the process
// starts, and Bun offers no call to change them later. So serve replaces its
// own process image (execve: same PID, so systemd, signals and supervisors
// see no difference) with the same command line and the variable added.
// A value the operator set is kept as is: MIMALLOC_PURGE_DELAY=100 restores
// Bun's default.
import { readFileSync, readlinkSync } from "node:fs";
import { dlopen, FFIType, ptr } from "bun:ffi";

export const PURGE_DELAY_VARIABLE = "MIMALLOC_PURGE_DELAY";
/** Never purge: freed memory stays with the process for reuse. */
export const SERVE_PURGE_DELAY = "-1";
/**
 * The re-executed image starts with SIGPWR ignored (see execve below), and
 * JavaScriptCore, whose thread suspension uses SIGPWR by default, then
 * printed "Overriding existing handler for signal 30" at every start. It
 * takes another signal when told to: a real-time one that neither Bun nor
 * glibc handles (a running member catches 2, 4-8, 11, 15, 30, 31 and 33).
 */
export const GC_SIGNAL_VARIABLE = "JSC_SIGNAL_FOR_GC";
export const SERVE_GC_SIGNAL = "40";

/**
 * Re-executes this process with the serve allocator settings unless they (or
 * an operator's own value) are already in the environment. Returns only when
 * it did not re-execute: undefined when there was nothing to do, or why the
 * exec failed (the server then runs with Bun's defaults: correct, only slower).
 */
export function execWithServeAllocatorSettings(env: Record<string, string | undefined> = process.env): string | undefined {
  if (env[PURGE_DELAY_VARIABLE] !== undefined || process.platform !== "linux") return undefined;
  try {
    // The exact argv bytes this process was started with (Bun rewrites process.argv for compiled binaries).
    const argv = splitNul(readFileSync("/proc/self/cmdline"));
    const environment = Object.entries(env)
      .filter((entry): entry is [string, string] => entry[1] !== undefined)
      .map(([name, value]) => Buffer.from(`${name}=${value}\0`, "utf8"));
    environment.push(Buffer.from(`${PURGE_DELAY_VARIABLE}=${SERVE_PURGE_DELAY}\0`, "utf8"));
    if (env[GC_SIGNAL_VARIABLE] === undefined) environment.push(Buffer.from(`${GC_SIGNAL_VARIABLE}=${SERVE_GC_SIGNAL}\0`, "utf8"));
    // The binary's real path, not /proc/self/exe: the kernel names the process (ps, top, journald) after it.
    const self = readlinkSync("/proc/self/exe");
    execve(Buffer.from(`${self.endsWith(" (deleted)") ? "/proc/self/exe" : self}\0`, "utf8"), argv, environment);
    return "execve returned an error";
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Each NUL-terminated string of `bytes`, keeping its NUL. */
function splitNul(bytes: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let end = bytes.indexOf(0); end >= 0; end = bytes.indexOf(0, start)) {
    parts.push(bytes.subarray(start, end + 1));
    start = end + 1;
  }
  return parts;
}

/** Linux signal numbers, the same on x86_64 and aarch64. */
const SIGPWR = 30;
/** Room for glibc's struct sigaction (152 bytes on x86_64 and aarch64). */
const SIGACTION_BYTES = 256;
const SIG_IGN = 1n;

/**
 * libc's execve on NUL-terminated strings: returns only on failure.
 *
 * A signal pending at execve stays pending in the new image, where it gets
 * its default action before the runtime installs handlers. JavaScriptCore
 * suspends threads with SIGPWR (default action: terminate); measured under
 * `bun --cpu-prof`, whose sampler sends it constantly, 4 of 9 re-executed
 * members died of it at start. Ignoring SIGPWR discards a pending one; the
 * new image's runtime installs its own handler again.
 */
function execve(path: Buffer, argv: Buffer[], environment: Buffer[]): void {
  const libc = dlopen("libc.so.6", {
    execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
    sigaction: { args: [FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  });
  try {
    // Every buffer stays referenced here until execve returns (or never does).
    const pointerArray = (items: Buffer[]) => {
      const array = new BigUint64Array(items.length + 1);
      items.forEach((item, i) => (array[i] = BigInt(ptr(item))));
      return array;
    };
    const argvArray = pointerArray(argv);
    const envArray = pointerArray(environment);
    const ignore = new BigUint64Array(SIGACTION_BYTES / 8);
    ignore[0] = SIG_IGN; // sa_handler; empty mask, no flags
    const previous = new Uint8Array(SIGACTION_BYTES);
    if (libc.symbols.sigaction(SIGPWR, ptr(ignore), ptr(previous)) !== 0) throw new Error("sigaction(SIGPWR) failed");
    libc.symbols.execve(ptr(path), ptr(argvArray), ptr(envArray));
    // Still here: execve failed; the runtime needs its handler back.
    libc.symbols.sigaction(SIGPWR, ptr(previous), null);
  } finally {
    libc.close();
  }
}
