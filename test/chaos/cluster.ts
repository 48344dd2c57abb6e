// Compiled `dkv serve` members, each inside its own network namespace of a
// NamespaceNetwork (so the nemesis can cut links between them), with the
// process controls the nemesis needs: kill -9 and restart on the same data
// dir, SIGSTOP/SIGCONT, remove and re-add, and power cuts (every member runs
// on test/power-cut's disk model, which keeps what each file held at its last
// fsync). stopAll() kills every process it started, paused or not.
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BINARY, call, waitFor } from "../e2e/cluster.ts";
import { buildShim, type CutOptions, type CutReport, rebuildAfterCut, shimEnv, shimErrors } from "../power-cut/power-cut.ts";
import type { NamespaceNetwork } from "./netns.ts";

export const PEER_PORT = 2380;
export const CLIENT_PORT = 2379;
/** Election and heartbeat timing for chaos clusters: faults resolve within a second or two. */
export const CHAOS_FLAGS = ["--heartbeat-interval", "50ms", "--election-timeout", "500ms", "--snapshot-count", "300"];
const OUTPUT_CHUNKS_MAX = 2000;
/** A SIGTERM'd member hands its lead over (at most 3 s) and exits; serve itself gives up after 10 s. */
const STOP_DEADLINE_MS = 15_000;

export interface ChaosMember {
  index: number;
  /** Raft id; a member re-added after removal gets a new one (n2, then n2b, ...). */
  name: string;
  host: string;
  dataDir: string;
  process?: Subprocess<"ignore", "pipe", "pipe">;
  paused: boolean;
  /** Not in the configuration (removed, not yet re-added). */
  removed: boolean;
  output: string[];
  /** Times this member slot was re-added. */
  generation: number;
}

export interface MemberStatus {
  memberId?: string;
  leaderId?: string;
  isLeader?: boolean;
  raftTerm?: string;
  commitIndex?: string;
  appliedIndex?: string;
  isLearner?: boolean;
}

export class ChaosCluster {
  readonly members: ChaosMember[] = [];
  readonly root: string;
  /** Environment that puts a member on the disk model; its copies live in shadow. */
  private readonly diskModel: Record<string, string>;
  private readonly shadow: string;

  constructor(
    readonly network: NamespaceNetwork,
    private readonly flags: string[] = CHAOS_FLAGS,
    private readonly binary: string = process.env.DKV_CHAOS_BINARY ?? BINARY,
  ) {
    this.root = realpathSync(mkdtempSync(join(tmpdir(), "dkv-chaos-")));
    this.shadow = join(this.root, "disk-model");
    this.diskModel = shimEnv(buildShim(this.root), join(this.root, "data"), this.shadow);
    // If the test process ends without stopAll() (a timeout, an uncaught error), take the members along.
    process.once("exit", () => {
      for (const m of this.members) m.process?.kill("SIGKILL");
    });
    for (let i = 0; i < network.size; i++) {
      this.members.push({ index: i, name: `n${i}`, host: network.address(i), dataDir: join(this.root, "data", `n${i}`), paused: false, removed: false, output: [], generation: 0 });
    }
  }

  endpoint(m: ChaosMember): string {
    return `http://${m.host}:${CLIENT_PORT}`;
  }

  peerAddress(m: ChaosMember): string {
    return `${m.host}:${PEER_PORT}`;
  }

  /** Starts every member as one new cluster. */
  startAll(): void {
    const initial = this.members.map((m) => `${m.name}=${this.peerAddress(m)}`).join(",");
    for (const m of this.members) this.start(m, ["--initial-cluster", initial, "--initial-cluster-state", "new"]);
  }

  start(m: ChaosMember, extraFlags: string[] = []): void {
    if (m.process) throw new Error(`member ${m.name} is already running (pid ${m.process.pid})`);
    const argv = [
      ...this.network.execPrefix(m.index),
      this.binary,
      "serve",
      "--name", m.name,
      "--data-dir", m.dataDir,
      "--listen-peer-address", this.peerAddress(m),
      "--listen-client-address", `${m.host}:${CLIENT_PORT}`,
      ...this.flags,
      ...extraFlags,
    ];
    // `ip netns exec` execs the command in place: the pid is dkv's own, so signals reach it directly.
    const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...this.diskModel } });
    m.process = proc;
    m.paused = false;
    m.output.push(`\n===== started ${m.name} (pid ${proc.pid}) at ${new Date().toISOString()} =====\n`);
    void collect(proc.stderr, m.output);
    void collect(proc.stdout, m.output);
  }

  /** kill -9, waiting until the process is gone. */
  async kill(m: ChaosMember): Promise<void> {
    const proc = m.process;
    if (!proc) return;
    proc.kill("SIGKILL");
    await proc.exited;
    m.process = undefined;
    m.paused = false;
    m.output.push(`\n===== killed ${m.name} (pid ${proc.pid}) =====\n`);
  }

  /**
   * A power cut of these members: kill -9 of all at once, then each data dir
   * holds what the disk model kept (every write no fsync covered is gone, or
   * with options.writeback some of them are not).
   */
  async powerCut(members: ChaosMember[], options: CutOptions = {}): Promise<CutReport[]> {
    await Promise.all(members.map((m) => this.kill(m)));
    const errors = shimErrors(this.shadow);
    if (errors !== "") throw new Error(`the disk model failed: ${errors}`);
    return members.map((m) => rebuildAfterCut(m.dataDir, this.shadow, options));
  }

  /** SIGTERM, waiting until the process is gone (SIGKILL after STOP_DEADLINE_MS: a stop that hangs is reported by its exit code). */
  async stop(m: ChaosMember): Promise<number | null> {
    const proc = m.process;
    if (!proc) return null;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_DEADLINE_MS);
    const code = await proc.exited;
    clearTimeout(timer);
    m.process = undefined;
    m.paused = false;
    m.output.push(`\n===== stopped ${m.name} (pid ${proc.pid}, exit ${code}) =====\n`);
    return code;
  }

  pause(m: ChaosMember): void {
    if (!m.process) throw new Error(`cannot pause ${m.name}: not running`);
    m.process.kill("SIGSTOP");
    m.paused = true;
  }

  resume(m: ChaosMember): void {
    if (!m.process) return;
    m.process.kill("SIGCONT");
    m.paused = false;
  }

  running(): ChaosMember[] {
    return this.members.filter((m) => m.process && !m.removed);
  }

  voters(): ChaosMember[] {
    return this.members.filter((m) => !m.removed);
  }

  async status(m: ChaosMember, timeoutMs = 1000): Promise<MemberStatus | undefined> {
    if (!m.process || m.paused) return undefined;
    try {
      return await call<MemberStatus>(this.endpoint(m), "dkv.v1.MaintenanceAPI/Status", {}, timeoutMs);
    } catch {
      return undefined;
    }
  }

  /** The member that says it leads, among the running, unpaused ones. */
  async leader(): Promise<ChaosMember | undefined> {
    const statuses = await Promise.all(this.running().map(async (m) => ({ m, s: await this.status(m) })));
    return statuses.find(({ s }) => s?.isLeader)?.m;
  }

  async waitForLeader(deadlineMs: number): Promise<ChaosMember> {
    return waitFor("a leader", deadlineMs, () => this.leader(), 100).catch((error: Error) => {
      throw new Error(`${error.message}\n${this.allLogs(20)}`);
    });
  }

  /** Waits for a leader whose configuration has exactly the expected voters (no learners left behind). */
  async waitForVoters(expected: ChaosMember[], deadlineMs: number): Promise<ChaosMember> {
    const want = expected.map((m) => m.name).sort().join(",");
    let seen = "";
    return waitFor(`a leader with voters ${want}`, deadlineMs, async () => {
      const leader = await this.leader();
      if (!leader) return undefined;
      const list = (await call<{ servers?: Array<{ id: string; isLearner?: boolean }> }>(this.endpoint(leader), "dkv.v1.MembershipAPI/GetServers", {}, 1000)).servers ?? [];
      seen = list.map((s) => `${s.id}${s.isLearner ? "(learner)" : ""}`).sort().join(",");
      return seen === want ? leader : undefined;
    }, 100).catch((error: Error) => {
      throw new Error(`${error.message}; last configuration seen: ${seen || "none"}\n${this.allLogs(20)}`);
    });
  }

  /** Kills every process (paused ones included: SIGKILL ends a stopped process too). */
  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
  }

  removeData(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  logs(m: ChaosMember, lines = 40): string {
    return `--- ${m.name} (${m.host}) ---\n` + m.output.join("").split("\n").slice(-lines).join("\n");
  }

  allLogs(lines = 40): string {
    return this.members.map((m) => this.logs(m, lines)).join("\n");
  }
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      into.push(decoder.decode(chunk, { stream: true }));
      if (into.length > OUTPUT_CHUNKS_MAX) into.splice(0, OUTPUT_CHUNKS_MAX / 2);
    }
  } catch {
    // The process is gone; what it printed is kept.
  }
}
