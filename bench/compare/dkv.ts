// The dkv side: a 3-member cluster of `dkv serve` processes on loopback,
// each on its own 127.0.0.N with its own temp data dir, default durability.
// Normally the compiled binary (dist/dkv); in profiling mode each member runs
// from source under `bun --cpu-prof`, which the compiled binary cannot do.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Endpoint, ServerCluster, ServerMember } from "./cluster.ts";
import { collectOutput, freePort, removeAtExit, tail, track, waitFor } from "./procs.ts";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
export const DKV_BINARY_DEFAULT = join(REPO_ROOT, "dist/dkv");
const DKV_START_DEADLINE_MS = 30_000;
/** SIGTERM first in profiling mode (the profile is written at exit); SIGKILL after this. */
const GRACEFUL_STOP_MS = 15_000;

export interface DkvClusterOptions {
  firstHost: number;
  size?: number;
  binary: string;
  /** When set, members run `bun --cpu-prof src/cli/main.ts serve` and write profiles here. */
  profileDir?: string;
  /** The tree whose src/cli/main.ts runs when profiling (default: this repository). */
  sourceRoot?: string;
}

export async function dkvVersion(binary: string): Promise<string> {
  const child = Bun.spawn([binary, "--version"], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  return (await new Response(child.stdout).text()).trim() || "unknown";
}

/** One Connect JSON call (used for Status only; the load itself goes through loadgen.ts). */
export async function connectCall<T>(endpoint: Endpoint, method: string, body: unknown, timeoutMs = 2000): Promise<T> {
  const response = await fetch(`http://${endpoint.host}:${endpoint.port}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", "connect-protocol-version": "1" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} on ${endpoint.host}:${endpoint.port}: HTTP ${response.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as T;
}

export class DkvCluster implements ServerCluster {
  readonly name = "dkv";
  readonly members: ServerMember[] = [];
  private readonly root: string;

  constructor(private readonly options: DkvClusterOptions) {
    this.root = removeAtExit(mkdtempSync(join(tmpdir(), "bench-dkv-")));
    for (let i = 0; i < (options.size ?? 3); i++) {
      const host = `127.0.0.${options.firstHost + i}`;
      this.members.push({ name: `d${i}`, host, clientPort: freePort(host), peerPort: freePort(host), dataDir: join(this.root, `d${i}`), output: [] });
    }
  }

  async start(): Promise<void> {
    const initial = this.members.map((m) => `${m.name}=${m.host}:${m.peerPort}`).join(",");
    for (const m of this.members) {
      const serveArgs = [
        "serve",
        "--name", m.name,
        "--data-dir", m.dataDir,
        "--listen-peer-address", `${m.host}:${m.peerPort}`,
        "--listen-client-address", `${m.host}:${m.clientPort}`,
        "--initial-cluster", initial,
        "--initial-cluster-state", "new",
        "--log-level", "warn",
        // For experiments: more `dkv serve` flags, e.g. DKV_BENCH_SERVE_ARGS="--snapshot-count 10000000".
        ...(process.env.DKV_BENCH_SERVE_ARGS?.split(/\s+/).filter(Boolean) ?? []),
      ];
      let command: string[];
      if (this.options.profileDir) {
        const dir = join(this.options.profileDir, m.name);
        mkdirSync(dir, { recursive: true });
        command = [process.execPath, "--cpu-prof", "--cpu-prof-dir", dir, join(this.options.sourceRoot ?? REPO_ROOT, "src/cli/main.ts"), ...serveArgs];
      } else {
        command = [this.options.binary, ...serveArgs];
      }
      const child = track(Bun.spawn(command, { stdin: "ignore", stdout: "pipe", stderr: "pipe", cwd: this.root, env: { ...process.env, NO_COLOR: "1" } }));
      m.process = child;
      m.output = [];
      void collectOutput(child.stdout, m.output);
      void collectOutput(child.stderr, m.output);
    }
    try {
      const found = await waitFor("a dkv leader", DKV_START_DEADLINE_MS, async () => {
        // A member that exited will not come back: stop waiting at once.
        const dead = this.members.find((m) => m.process?.exitCode !== null);
        if (dead) return { exited: dead };
        const leader = await this.leader();
        return leader && { exited: undefined };
      }, 250);
      if (found.exited) throw new Error(`dkv member ${found.exited.name} exited with code ${found.exited.process?.exitCode} during start-up`);
      // Every member must serve before the run starts (serializable reads go to all of them).
      await waitFor("every dkv member to answer Status", DKV_START_DEADLINE_MS, async () => {
        const statuses = await Promise.all(this.endpoints().map((e) => connectCall<{ leaderId?: string }>(e, "dkv.v1.MaintenanceAPI/Status", {}).catch(() => undefined)));
        return statuses.every((s) => s?.leaderId) || undefined;
      }, 250);
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : error}\n${this.logs()}`);
    }
  }

  /** The member whose MaintenanceAPI/Status says isLeader, as a client would find it. */
  async leader(): Promise<Endpoint | undefined> {
    for (const endpoint of this.endpoints()) {
      try {
        const status = await connectCall<{ isLeader?: boolean }>(endpoint, "dkv.v1.MaintenanceAPI/Status", {}, 1000);
        if (status.isLeader) return endpoint;
      } catch {
        // Not up yet, or not answering: try the next member.
      }
    }
    return undefined;
  }

  endpoints(): Endpoint[] {
    return this.members.map((m) => ({ host: m.host, port: m.clientPort }));
  }

  pids(): number[] {
    return this.members.flatMap((m) => (m.process ? [m.process.pid] : []));
  }

  alive(): boolean {
    return this.members.every((m) => m.process && m.process.exitCode === null && !m.process.killed);
  }

  logs(lines = 15): string {
    return this.members.map((m) => `--- ${m.name} (${m.host}:${m.clientPort}) exit=${m.process?.exitCode ?? "running"} ---\n${tail(m.output, lines)}`).join("\n");
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        const child = m.process;
        if (!child) return;
        if (this.options.profileDir) {
          // Graceful, so Bun writes the CPU profile on exit.
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), GRACEFUL_STOP_MS);
          await child.exited;
          clearTimeout(timer);
        } else {
          child.kill("SIGKILL");
          await child.exited;
        }
        m.process = undefined;
      }),
    );
    rmSync(this.root, { recursive: true, force: true });
  }
}
