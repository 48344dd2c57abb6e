// A real cluster of compiled `dkv serve` processes on loopback, each member
// on its own address (127.0.0.N), for end-to-end tests. Every process a
// test starts is killed by stopAll(), which tests call in afterEach/afterAll.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export const BINARY = join(import.meta.dir, "../../dist/dkv");

export interface MemberSpec {
  name: string;
  host: string;
  peerPort: number;
  clientPort: number;
  dataDir: string;
}

export interface Member extends MemberSpec {
  process?: Subprocess<"ignore", "pipe", "pipe">;
  output: string[];
}

export { freePort } from "../ports.ts";
import { freePort } from "../ports.ts";

export async function waitFor<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined> | T | undefined, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${deadlineMs}ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ""}`);
    await Bun.sleep(intervalMs);
  }
}

export interface ClusterOptions {
  size: number;
  /** Extra flags for every member. */
  flags?: string[];
  /** Member name prefix. */
  prefix?: string;
  /** First loopback host index (127.0.0.<first>); members take consecutive addresses. */
  firstHost?: number;
  /** All members on 127.0.0.1, advertising their peer address under this DNS name (e.g. "localhost"). */
  peerHostname?: string;
  /** Scheme of client endpoints (https when the client port has TLS). */
  clientScheme?: "http" | "https";
  /** Extra environment for every member (e.g. LD_PRELOAD). */
  env?: Record<string, string>;
}

export class Cluster {
  readonly members: Member[] = [];
  readonly root: string;
  private readonly flags: string[];

  constructor(private readonly options: ClusterOptions) {
    this.root = mkdtempSync(join(tmpdir(), "dkv-e2e-"));
    this.flags = options.flags ?? [];
    const first = options.firstHost ?? 1;
    for (let i = 0; i < options.size; i++) this.members.push(this.spec(i, first + i));
  }

  private spec(i: number, hostIndex: number): Member {
    const host = this.options.peerHostname ? "127.0.0.1" : `127.0.0.${hostIndex}`;
    return {
      name: `${this.options.prefix ?? "n"}${i}`,
      host,
      peerPort: freePort(host),
      clientPort: freePort(host),
      dataDir: join(this.root, `n${i}`),
      output: [],
    };
  }

  peerAddress(m: Member): string {
    return `${this.options.peerHostname ?? m.host}:${m.peerPort}`;
  }

  initialCluster(members: Member[] = this.members): string {
    return members.map((m) => `${m.name}=${this.peerAddress(m)}`).join(",");
  }

  endpoint(m: Member): string {
    return `${this.options.clientScheme ?? "http"}://${m.host}:${m.clientPort}`;
  }

  /** Starts every member as a new cluster (the first listed bootstraps). */
  async startAll(): Promise<void> {
    const initial = this.initialCluster();
    for (const m of this.members) this.start(m, ["--initial-cluster", initial, "--initial-cluster-state", "new"]);
  }

  start(m: Member, extraFlags: string[] = [], extraEnv: Record<string, string> = {}): void {
    const args = [
      BINARY,
      "serve",
      "--name", m.name,
      "--data-dir", m.dataDir,
      "--listen-peer-address", `${m.host}:${m.peerPort}`,
      "--listen-client-address", `${m.host}:${m.clientPort}`,
      "--advertise-peer-address", this.peerAddress(m),
      ...this.flags,
      ...extraFlags,
    ];
    const proc = Bun.spawn(args, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...this.options.env, ...extraEnv } });
    m.process = proc;
    m.output = [];
    void collect(proc.stderr, m.output);
    void collect(proc.stdout, m.output);
  }

  /** Adds a member that is not started; the caller starts it with the flags it needs. */
  addSpec(): Member {
    const first = this.options.firstHost ?? 1;
    const m = this.spec(this.members.length, first + this.members.length);
    this.members.push(m);
    return m;
  }

  kill(m: Member, signal: NodeJS.Signals | number = "SIGKILL"): Promise<number | null> {
    const proc = m.process;
    if (!proc) return Promise.resolve(null);
    proc.kill(signal);
    return proc.exited.then((code) => {
      m.process = undefined;
      return code;
    });
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m, "SIGKILL")));
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  /** The last lines a member printed, for failure messages. */
  logs(m: Member, lines = 30): string {
    return `--- ${m.name} ---\n` + m.output.join("").split("\n").slice(-lines).join("\n");
  }

  allLogs(): string {
    return this.members.map((m) => this.logs(m)).join("\n");
  }
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    into.push(decoder.decode(chunk, { stream: true }));
    if (into.length > 2000) into.splice(0, 1000);
  }
}

// ---- the Connect JSON protocol, as curl would speak it ----

export class ConnectCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export async function call<T = Record<string, unknown>>(endpoint: string, method: string, body: unknown, timeoutMs = 5000): Promise<T> {
  const response = await fetch(`${endpoint}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": String(timeoutMs) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs + 1000),
  });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : {};
  if (!response.ok) throw new ConnectCallError(parsed.code ?? String(response.status), parsed.message ?? text);
  return parsed as T;
}

export const b64 = (s: string) => Buffer.from(s).toString("base64");
export const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString();

export async function setKey(endpoint: string, key: string, value: string): Promise<void> {
  await call(endpoint, "dkv.v1.DkvAPI/Set", { key, value: b64(value) });
}

export async function getKey(endpoint: string, key: string, consistency: "linearizable" | "serializable" = "linearizable"): Promise<string | undefined> {
  const response = await call<{ value?: string; found?: boolean }>(endpoint, "dkv.v1.DkvAPI/Get", {
    key,
    consistency: consistency === "linearizable" ? "CONSISTENCY_LINEARIZABLE" : "CONSISTENCY_SERIALIZABLE",
  });
  return response.found ? unb64(response.value) : undefined;
}

export async function servers(endpoint: string): Promise<Array<{ id: string; raftAddress?: string; rpcAddress?: string; isLeader?: boolean; isLearner?: boolean }>> {
  const response = await call<{ servers?: Array<{ id: string; isLeader?: boolean }> }>(endpoint, "dkv.v1.MembershipAPI/GetServers", {});
  return response.servers ?? [];
}

export async function leaderOf(cluster: Cluster, among: Member[] = cluster.members): Promise<Member | undefined> {
  for (const m of among) {
    if (!m.process) continue;
    try {
      const status = await call<{ isLeader?: boolean }>(cluster.endpoint(m), "dkv.v1.MaintenanceAPI/Status", {}, 1000);
      if (status.isLeader) return m;
    } catch {
      // Not up or not answering: not the leader we can use.
    }
  }
  return undefined;
}

/** Runs the compiled CLI to completion (20-s bound). */
/** The leader, once `voters` members vote (all of them by default); the members' logs in the error otherwise. */
export async function formed(cluster: Cluster, voters = cluster.members.length): Promise<Member> {
  return waitFor(`a leader with ${voters} voters`, 20_000, async () => {
    const leader = await leaderOf(cluster);
    if (!leader) return undefined;
    const list = await servers(cluster.endpoint(leader));
    return list.filter((s) => !s.isLearner).length === voters ? leader : undefined;
  }, 100).catch((error) => {
    throw new Error(`${error.message}\n${cluster.allLogs()}`);
  });
}

export function runCli(...args: string[]): { code: number; stdout: string; stderr: string } {
  const run = Bun.spawnSync([BINARY, ...args], { env: { ...process.env, NO_COLOR: "1" }, timeout: 20_000 });
  return { code: run.exitCode ?? -1, stdout: run.stdout.toString(), stderr: run.stderr.toString() };
}

/** Runs the compiled CLI and returns its stdout; throws with its stderr unless it exits 0. */
export function runCliOk(...args: string[]): string {
  const run = runCli(...args);
  if (run.code !== 0) throw new Error(`dkv ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}
