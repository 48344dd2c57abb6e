// Child processes of the benchmark and the CPU they use. Every server the
// benchmark starts is registered here and killed when the run ends, fails or
// is interrupted, so no etcd or dkv member outlives it.
import { readFileSync, rmSync } from "node:fs";
import type { Subprocess } from "bun";

/** Kernel clock ticks per second for /proc times (getconf CLK_TCK; 100 on Linux x86-64). */
export const CLOCK_TICKS_PER_SECOND = 100;

type Child = Subprocess<"ignore", "pipe", "pipe"> | Subprocess<"ignore", "pipe", "inherit">;
const children = new Set<Child>();

export function track<T extends Child>(child: T): T {
  children.add(child);
  void child.exited.then(() => children.delete(child));
  return child;
}

/** Kills every child still running (SIGKILL: servers hold no state the benchmark needs). */
export function killAll(): void {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
  children.clear();
}

const tempDirs = new Set<string>();
/** A temp dir removed when the run exits, however it exits (unless killed with SIGKILL). */
export function removeAtExit(dir: string): string {
  tempDirs.add(dir);
  return dir;
}

function removeTempDirs(): void {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let handlersInstalled = false;
/** Ctrl-C, SIGTERM and any exit path take the servers down with the benchmark. */
export function installExitHandlers(onSignal: () => void = () => {}): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // SIGPIPE too: `run.ts | head` must not leave servers behind.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE"] as const) {
    process.on(signal, () => {
      onSignal();
      killAll();
      process.exit(130);
    });
  }
  process.on("exit", () => {
    killAll();
    removeTempDirs();
  });
}

/** A free TCP port on host (the kernel's pick; closed again before the server binds it). */
export function freePort(host: string): number {
  const server = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

export async function waitFor<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined | false> | T | undefined | false, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ""}`);
    await Bun.sleep(intervalMs);
  }
}

/** User + system CPU ticks of a process and all its threads, or undefined when it is gone. */
export function processCpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // The command name (field 2) may contain spaces; fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the full line)
  } catch {
    return undefined;
  }
}

/** Machine-wide CPU ticks: total and stolen by the hypervisor (from /proc/stat's first line). */
export function machineTicks(): { total: number; steal: number; idle: number } {
  const line = readFileSync("/proc/stat", "latin1").split("\n", 1)[0]!;
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal; guest time is already inside user
  return { total, steal: values[7] ?? 0, idle: (values[3] ?? 0) + (values[4] ?? 0) };
}

/** Collects a child's output (last lines only) for error reports. */
export async function collectOutput(stream: ReadableStream<Uint8Array>, into: string[], maxChunks = 400): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      into.push(decoder.decode(chunk, { stream: true }));
      if (into.length > maxChunks) into.splice(0, into.length - maxChunks / 2);
    }
  } catch {
    // The process went away mid-read.
  }
}

export function tail(output: string[], lines = 20): string {
  return output.join("").split("\n").slice(-lines).join("\n");
}
