// Alternated A/B runs of two dkv builds on one machine: two 3-member clusters
// up at once, put points taken A, B, A, B, ... so both see the same host
// noise, then medians. For a code change whose effect is smaller than the
// run-to-run spread of the full benchmark (BENCHMARKS.md).
//
//   bun run bench/compare/ab.ts --a /tmp/dkv-before --b dist/dkv [--clients 64] [--repeats 6] [--seconds 8]
//                               [--op put|get-lin|get-ser]
//
// Gets (--op) run on clusters populated with the benchmark's key space first;
// linearizable ones go to the leader, serializable ones to every member.
// An A/A check (the same binary as --a and --b, 64 clients) gave 9,574 against
// 9,721 puts/s but 24,285 against 18,823 linearizable gets/s: reads differ by
// up to a quarter between two clusters of one build, so a read A/B needs many
// repeats and both orders of --a and --b.
// Beside ops/s and p99 it prints the server CPU per put and, for each
// leader's main thread, its run and run-queue wait time per put and its
// involuntary context switches (from /proc/<pid>/task/<pid>/schedstat and
// status), which tell a busy leader from one that waits for a core.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DkvCluster } from "./dkv.ts";
import type { LoadConfig, LoadResult } from "./loadgen.ts";
import { lateTicks, logFsyncs } from "./member-metrics.ts";
import { installExitHandlers, killAll } from "./procs.ts";
import { median, putPoint } from "./put-point.ts";
import { runLoadgen } from "./run-loadgen.ts";

const LOADGEN_SLACK_MS = 60_000;
const POPULATE_CLIENTS = 64;
const OPS = ["put", "get-lin", "get-ser"] as const;
type AbOp = (typeof OPS)[number];

async function pointConfig(cluster: DkvCluster, op: AbOp | "populate", clients: number, seconds: number): Promise<LoadConfig> {
  const leader = await cluster.leader();
  if (!leader) throw new Error(`no leader in the cluster on ${cluster.members[0]!.host}`);
  return { ...putPoint({ leader, members: cluster.endpoints(), clients, warmupMs: 1_000, measureMs: seconds * 1000, serverPids: cluster.pids() }), op };
}

interface ThreadCounters {
  runNs: number;
  waitNs: number;
  involuntary: number;
}

/** The main thread's counters: its task id is the process id. */
function mainThreadCounters(pid: number): ThreadCounters {
  const [runNs, waitNs] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").trim().split(/\s+/).map(Number);
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
  const involuntary = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { runNs: runNs ?? 0, waitNs: waitNs ?? 0, involuntary };
}

interface Sample {
  opsPerSec: number;
  p99Ms: number;
  serverUsPerOp: number;
  loadgenUsPerOp: number;
  leaderRunUsPerOp: number;
  leaderWaitUsPerOp: number;
  leaderInvoluntaryPerKOp: number;
  /** Every member's fsyncs of its log together, per 1,000 puts. */
  fsyncsPerKOp: number;
  /** Times the leader's raft tick fired more than 25 ms late (its event loop held), per 10 s. */
  leaderStallsPer10s: number;
}

/** The leader's late ticks so far: how many fired more than 25 ms late. */
/** Sum over the members of how many Readies each fsynced. */
async function clusterFsyncs(cluster: DkvCluster): Promise<number> {
  let total = 0;
  for (const e of cluster.endpoints()) total += await logFsyncs(e);
  return total;
}

async function samplePoint(cluster: DkvCluster, op: AbOp, clients: number, seconds: number): Promise<Sample> {
  const config = await pointConfig(cluster, op, clients, seconds);
  const leader = config.leader;
  const leaderPid = cluster.members.find((m) => m.host === leader.host && m.clientPort === leader.port)!.process!.pid;
  const before = mainThreadCounters(leaderPid);
  const fsyncsBefore = await clusterFsyncs(cluster);
  const lateBefore = await lateTicks(leader);
  const result: LoadResult = await runLoadgen(config, LOADGEN_SLACK_MS);
  const after = mainThreadCounters(leaderPid);
  const fsyncsAfter = await clusterFsyncs(cluster);
  const lateAfter = await lateTicks(leader);
  if (result.errors > 0) throw new Error(`${result.errors} errors: ${result.errorSamples.join("; ")}`);
  if (result.notFound > 0) throw new Error(`${result.notFound} gets found nothing: the key space was not populated`);
  // The counters span warm-up and window; ops are the window's, so scale by the whole run's share.
  const runOps = result.opsPerSec * (seconds + 1);
  const serverPct = result.serverCpuPct.reduce((a, b) => a + b, 0);
  return {
    opsPerSec: result.opsPerSec,
    p99Ms: result.p99Ms,
    serverUsPerOp: (serverPct / 100 / result.opsPerSec) * 1e6,
    loadgenUsPerOp: result.loadgenCpuUsPerOp,
    leaderRunUsPerOp: (after.runNs - before.runNs) / 1000 / runOps,
    leaderWaitUsPerOp: (after.waitNs - before.waitNs) / 1000 / runOps,
    leaderInvoluntaryPerKOp: ((after.involuntary - before.involuntary) / runOps) * 1000,
    fsyncsPerKOp: ((fsyncsAfter - fsyncsBefore) / runOps) * 1000,
    leaderStallsPer10s: ((lateAfter - lateBefore) / (seconds + 1)) * 10,
  };
}

function row(label: string, samples: Sample[]): string {
  const m = (pick: (s: Sample) => number, digits = 0) => median(samples.map(pick)).toFixed(digits);
  return [
    label.padEnd(4),
    `ops/s ${m((s) => s.opsPerSec)}`,
    `p99 ${m((s) => s.p99Ms, 1)} ms`,
    `server ${m((s) => s.serverUsPerOp)} us/op`,
    `loadgen ${m((s) => s.loadgenUsPerOp)} us/op`,
    `leader run ${m((s) => s.leaderRunUsPerOp, 1)} wait ${m((s) => s.leaderWaitUsPerOp, 1)} us/op`,
    `involuntary ${m((s) => s.leaderInvoluntaryPerKOp, 1)}/kop`,
    `fsyncs ${m((s) => s.fsyncsPerKOp, 1)}/kop`,
    `leader ticks >25 ms late ${m((s) => s.leaderStallsPer10s, 1)}/10 s`,
    `(ops/s: ${samples.map((s) => Math.round(s.opsPerSec)).join(", ")})`,
  ].join("  ");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      a: { type: "string" },
      b: { type: "string" },
      clients: { type: "string", default: "64" },
      repeats: { type: "string", default: "6" },
      seconds: { type: "string", default: "8" },
      op: { type: "string", default: "put" },
    },
  });
  const usage = "usage: bun run bench/compare/ab.ts --a BINARY --b BINARY [--clients N] [--repeats N] [--seconds N] [--op put|get-lin|get-ser]";
  if (!values.a || !values.b) throw new Error(usage);
  const op = values.op as AbOp;
  if (!OPS.includes(op)) throw new Error(`unknown --op ${values.op}; ${usage}`);
  const clients = Number(values.clients);
  const repeats = Number(values.repeats);
  const seconds = Number(values.seconds);
  installExitHandlers();
  // The members run in a temp dir: relative paths must be made absolute first.
  const a = new DkvCluster({ firstHost: 31, binary: resolve(values.a) });
  const b = new DkvCluster({ firstHost: 41, binary: resolve(values.b) });
  const samples: { a: Sample[]; b: Sample[] } = { a: [], b: [] };
  try {
    await Promise.all([a.start(), b.start()]);
    if (op !== "put") {
      for (const cluster of [a, b]) await runLoadgen(await pointConfig(cluster, "populate", POPULATE_CLIENTS, 0), LOADGEN_SLACK_MS);
    }
    for (let i = 0; i < repeats; i++) {
      // Alternate which goes first, so neither always runs on a cluster warmed by the other's run.
      const order: Array<["a" | "b", DkvCluster]> = i % 2 === 0 ? [["a", a], ["b", b]] : [["b", b], ["a", a]];
      for (const [label, cluster] of order) {
        const sample = await samplePoint(cluster, op, clients, seconds);
        samples[label].push(sample);
        console.log(`${label} #${i + 1}: ${Math.round(sample.opsPerSec)} ops/s, p99 ${sample.p99Ms.toFixed(1)} ms, server ${sample.serverUsPerOp.toFixed(0)} us/op, late ticks ${sample.leaderStallsPer10s.toFixed(1)}/10 s`);
      }
    }
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    killAll();
  }
  console.log(`${op}, ${clients} clients, ${repeats} alternated repeats of ${seconds} s, medians:`);
  console.log(row("A", samples.a) + `  ${values.a}`);
  console.log(row("B", samples.b) + `  ${values.b}`);
  console.log(`reproduce: bun run bench/compare/ab.ts --a ${values.a} --b ${values.b} --clients ${clients} --repeats ${repeats} --seconds ${seconds} --op ${op}`);
}

await main();
