// One chaos run: a cluster of N compiled members in their own network
// namespaces, concurrent clients recording a history, the nemesis running a
// seeded fault schedule, then everything healed and checked: the history is
// linearizable, the cluster recovered after every fault, every member
// converged to the same content, and a lease kept alive never ended early. A failed run saves its history and report
// and says where; its seed and schedule replay the same faults.
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../e2e/cluster.ts";
import { ChaosCluster, type ChaosMember } from "./cluster.ts";
import { describeOperation, type Operation } from "./history.ts";
import { checkHistory, formatCheckResult, type CheckResult } from "./linearizability.ts";
import { ALL_FAULTS, describeSchedule, Nemesis, RECOVERY_DEADLINE_MS, scheduleEachOnce, scheduleForDuration, type Fault, type FaultKind } from "./nemesis.ts";
import { ensurePrerequisites, NamespaceNetwork } from "./netns.ts";
import { Prng } from "./prng.ts";
import { rpc, Recorder, Workload } from "./workload.ts";
import { LEASE_TTL_SECONDS, LeaseKeeper } from "./lease-keeper.ts";

export interface ScenarioOptions {
  size: number;
  seed: number;
  /** Run faults for about this long; without it, every fault kind runs once. */
  durationMs?: number;
  clientsCount?: number;
  keysCount?: number;
  requestTimeoutMs?: number;
  holdMsMin?: number;
  holdMsMax?: number;
  /** Normal operation between two faults. */
  quietMs?: number;
  /** Search budget of the linearizability checker, per key. */
  stepBudgetPerKey?: number;
  /** Only these fault kinds (default: all). */
  faults?: readonly FaultKind[];
}

const DEFAULTS = {
  clientsCount: 6,
  keysCount: 4,
  requestTimeoutMs: 1500,
  holdMsMin: 2000,
  holdMsMax: 3500,
  quietMs: 1000,
  stepBudgetPerKey: 3_000_000,
  faults: ALL_FAULTS,
};

/** Requests recorded before a run counts as having exercised the store at all. */
const OK_WRITES_MIN = 50;
const OK_READS_MIN = 50;
const FINAL_READ_ATTEMPTS_MAX = 10;
const CONVERGENCE_DEADLINE_MS = 20_000;

export interface ScenarioReport {
  options: Required<Omit<ScenarioOptions, "durationMs">> & { durationMs?: number };
  schedule: Fault[];
  events: string;
  history: Operation[];
  check?: CheckResult;
  /** Everything that went wrong; empty when the run passed. */
  failures: string[];
  /** Where the history and report were saved (failed runs only). */
  savedTo?: string;
  elapsedMs: number;
}

export async function runScenario(input: ScenarioOptions): Promise<ScenarioReport> {
  const options = { ...DEFAULTS, ...input };
  const started = performance.now();
  const missing = await ensurePrerequisites();
  if (missing) throw new Error(missing);
  const prng = new Prng(options.seed);
  const schedule =
    options.durationMs === undefined
      ? scheduleEachOnce(prng.fork("schedule"), options.size, options.holdMsMin, options.holdMsMax, options.faults)
      : scheduleForDuration(prng.fork("schedule"), options.size, options.durationMs, options.holdMsMin, options.holdMsMax, options.quietMs, options.faults);
  const recorder = new Recorder();
  const failures: string[] = [];
  const network = await NamespaceNetwork.create(options.size);
  const cluster = new ChaosCluster(network);
  const nemesis = new Nemesis(cluster, () => recorder.now());
  let check: CheckResult | undefined;
  try {
    cluster.startAll();
    await cluster.waitForVoters(cluster.members, RECOVERY_DEADLINE_MS);
    nemesis.log(`cluster of ${options.size} formed`);
    await runFaults(cluster, nemesis, recorder, schedule, options, prng, failures);
    await finalReads(cluster, recorder, keysOf(options.keysCount), options.requestTimeoutMs, failures);
    await checkConvergence(cluster, failures);
    check = checkHistory(recorder.ops, { stepBudgetPerKey: options.stepBudgetPerKey });
    if (check.verdict !== "linearizable") failures.push(`the history is not linearizable (${check.verdict}):\n${formatCheckResult(check)}`);
    checkExercised(recorder.ops, failures);
  } catch (error) {
    failures.push(`run aborted: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    await cluster.stopAll();
    await network.destroy().catch((error: Error) => failures.push(error.message));
  }
  const report: ScenarioReport = { options, schedule, events: nemesis.describeEvents(), history: recorder.ops, ...(check ? { check } : {}), failures, elapsedMs: performance.now() - started };
  if (failures.length > 0) {
    report.savedTo = save(report, cluster);
  }
  cluster.removeData();
  return report;
}

function keysOf(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `k${i}`);
}

async function runFaults(
  cluster: ChaosCluster,
  nemesis: Nemesis,
  recorder: Recorder,
  schedule: Fault[],
  options: typeof DEFAULTS & ScenarioOptions,
  prng: Prng,
  failures: string[],
): Promise<void> {
  const workload = new Workload(
    {
      clientsCount: options.clientsCount,
      keys: keysOf(options.keysCount),
      requestTimeoutMs: options.requestTimeoutMs,
      endpoints: () => cluster.members.map((m) => cluster.endpoint(m)),
      prng: prng.fork("clients"),
      thinkMsMax: 10,
    },
    recorder,
  );
  const leasePrng = prng.fork("leases");
  const leases = new LeaseKeeper(() => cluster.members.map((m) => cluster.endpoint(m)), () => recorder.now(), (n) => leasePrng.int(n));
  await leases.start(RECOVERY_DEADLINE_MS);
  workload.start();
  try {
    await Bun.sleep(options.quietMs);
    for (const fault of schedule) {
      nemesis.log(`--- fault: ${fault.kind}, ${fault.holdMs} ms`);
      await nemesis.run(fault);
      await Bun.sleep(options.quietMs);
    }
  } catch (error) {
    failures.push(error instanceof Error ? error.message : String(error));
  } finally {
    await workload.stop();
    const lease = await leases.stop();
    nemesis.log(`lease keeper: ${lease.keepAlivesOk} keep-alives ok, ${lease.keepAlivesFailed} failed, longest gap ${Math.round(lease.longestGapMs)} ms${Object.keys(lease.failures).length > 0 ? ` (failures: ${Object.entries(lease.failures).map(([why, n]) => `${n}x ${why}`).join("; ")})` : ""}${lease.vanished ? `; the key went at ${Math.round(lease.vanished.atMs)} ms` : ""}`);
    if (lease.endedEarly) failures.push(`lease ${lease.leaseId} ended early: its key went at ${Math.round(lease.vanished!.atMs)} ms although no two keep-alives were more than ${Math.round(lease.vanished!.longestGapMs)} ms apart (TTL ${LEASE_TTL_SECONDS} s)`);
    await nemesis.healAll();
  }
  nemesis.log(`clients stopped after ${recorder.ops.length} operations`);
  await cluster.waitForVoters(cluster.voters(), RECOVERY_DEADLINE_MS);
}

/** A linearizable read of every key from every member, recorded: nothing acknowledged may be missing. */
async function finalReads(cluster: ChaosCluster, recorder: Recorder, keys: string[], timeoutMs: number, failures: string[]): Promise<void> {
  for (const m of cluster.running()) {
    for (const key of keys) {
      let ok = false;
      for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS_MAX && !ok; attempt++) {
        ok = (await recorder.perform(1000 + m.index, cluster.endpoint(m), key, { kind: "get" }, timeoutMs)).status === "ok";
        if (!ok) await Bun.sleep(200);
      }
      if (!ok) failures.push(`after healing, ${m.name} could not serve a linearizable read of ${key} in ${FINAL_READ_ATTEMPTS_MAX} attempts`);
    }
  }
}

/** Every member applies the same index and then holds the same keys, values and revisions. */
async function checkConvergence(cluster: ChaosCluster, failures: string[]): Promise<void> {
  const members = cluster.running();
  let lastDifference = "";
  try {
    await waitFor("every member to hold the same content", CONVERGENCE_DEADLINE_MS, async () => {
      const applied = await sameAppliedIndex(cluster, members);
      if (applied === undefined) return undefined;
      const contents = await Promise.all(members.map((m) => contentOf(cluster, m)));
      if (contents.some((c) => c === undefined)) return undefined;
      const differing = members.filter((_, i) => contents[i] !== contents[0]);
      if (differing.length === 0) return true;
      // Only a difference at one applied index that stays put is a divergence.
      if ((await sameAppliedIndex(cluster, members)) !== applied) return undefined;
      lastDifference = `at applied index ${applied}: ${members[0]!.name} has ${contents[0]}\n` + differing.map((m) => `${m.name} has ${contents[members.indexOf(m)]}`).join("\n");
      return undefined;
    }, 200);
  } catch (error) {
    failures.push(`members did not converge: ${lastDifference || (error instanceof Error ? error.message : String(error))}`);
  }
}

async function sameAppliedIndex(cluster: ChaosCluster, members: ChaosMember[]): Promise<number | undefined> {
  const statuses = await Promise.all(members.map((m) => cluster.status(m)));
  if (statuses.some((s) => s === undefined)) return undefined;
  const applied = statuses.map((s) => Number(s!.appliedIndex ?? 0));
  const commit = Math.max(...statuses.map((s) => Number(s!.commitIndex ?? 0)));
  return applied.every((a) => a === applied[0]) && applied[0]! >= commit ? applied[0] : undefined;
}

/** The member's own content (serializable list), as one comparable string. */
async function contentOf(cluster: ChaosCluster, m: ChaosMember): Promise<string | undefined> {
  const result = await rpc(cluster.endpoint(m), "dkv.v1.DkvAPI/List", { prefix: "", consistency: "CONSISTENCY_SERIALIZABLE" }, 2000);
  if (result.kind !== "answer") return undefined;
  const kvs = (result.body.kvs as Array<{ key: string; value?: string; modRevision?: string; version?: string }> | undefined) ?? [];
  return JSON.stringify(kvs.map((kv) => [kv.key, Buffer.from(kv.value ?? "", "base64").toString(), kv.modRevision, kv.version]));
}

/** A run where (almost) nothing succeeded proves nothing: say so. */
function checkExercised(ops: Operation[], failures: string[]): void {
  const okWrites = ops.filter((op) => op.status === "ok" && op.input.kind !== "get").length;
  const okReads = ops.filter((op) => op.status === "ok" && op.input.kind === "get").length;
  if (okWrites < OK_WRITES_MIN || okReads < OK_READS_MIN) {
    failures.push(`too little succeeded to judge the run: ${okWrites} acknowledged writes (want >= ${OK_WRITES_MIN}), ${okReads} reads (want >= ${OK_READS_MIN})`);
  }
}

/** Counts per kind and outcome, one line. */
export function summarizeHistory(ops: Operation[]): string {
  const counts = new Map<string, number>();
  for (const op of ops) counts.set(`${op.input.kind}/${op.status}`, (counts.get(`${op.input.kind}/${op.status}`) ?? 0) + 1);
  return [...counts.entries()].sort().map(([k, n]) => `${k} ${n}`).join(", ");
}

/** What a person needs to act on a failed run. */
export function describeReport(report: ScenarioReport): string {
  const o = report.options;
  const lines = [
    `chaos run: ${o.size} members, seed ${o.seed}${o.durationMs ? `, ${o.durationMs} ms of faults` : ", each fault once"}, ${(report.elapsedMs / 1000).toFixed(1)} s`,
    `replay: DKV_CHAOS_SEED=${o.seed}${o.durationMs ? ` DKV_CHAOS_SECONDS=${o.durationMs / 1000}` : ""} bun test test/chaos/chaos.test.ts  (or bun run test/chaos/run.ts --nodes ${o.size} --seed ${o.seed}${o.durationMs ? ` --duration ${o.durationMs / 1000}` : ""})`,
    `operations: ${summarizeHistory(report.history)}`,
    "fault schedule:",
    describeSchedule(report.schedule),
    "nemesis log (ms on the history clock):",
    report.events,
  ];
  if (report.check) lines.push(formatCheckResult(report.check));
  if (report.failures.length > 0) lines.push("FAILURES:", ...report.failures.map((f) => `- ${f}`));
  if (report.savedTo) lines.push(`history, report and member logs saved in ${report.savedTo}`);
  return lines.join("\n");
}

function save(report: ScenarioReport, cluster: ChaosCluster): string {
  const dir = join(process.env.DKV_CHAOS_OUTPUT_DIR ?? join(tmpdir(), "dkv-chaos-failures"), `seed-${report.options.seed}-n${report.options.size}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "history.json"), JSON.stringify(report.history));
  writeFileSync(join(dir, "history.txt"), report.history.map((op) => describeOperation(op)).join("\n"));
  writeFileSync(join(dir, "report.txt"), describeReport(report));
  writeFileSync(join(dir, "members.log"), cluster.allLogs(100_000));
  return dir;
}
