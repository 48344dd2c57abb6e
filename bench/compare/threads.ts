// Where a dkv cluster's CPU goes during a put point, per member and per kind
// of thread: the JavaScript main thread (user and system time apart), Bun's
// I/O pool (the log's fdatasync), the collector's helpers, the JIT.
//
//   bun run bench/compare/threads.ts [--binary dist/dkv] [--clients 64] [--seconds 12]
//
// The counters are read from /proc/<pid>/task/*/stat over the middle of the
// measured window (its first and last quarter left out), and printed per put,
// with how many puts each member's log fsync carried (its /metrics count of
// fsyncs over the same window): the batch a Ready holds, and how long each
// log write took on average (SQLite commit and fdatasync, wall time).
import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { DKV_BINARY_DEFAULT, DkvCluster } from "./dkv.ts";
import { logWrites } from "./member-metrics.ts";
import { CLOCK_TICKS_PER_SECOND, installExitHandlers, killAll } from "./procs.ts";
import { putPoint } from "./put-point.ts";
import { runLoadgen } from "./run-loadgen.ts";

const WARMUP_MS = 2_000;
const LOADGEN_SLACK_MS = 60_000;

type ThreadKind = "main user" | "main system" | "I/O pool" | "GC helpers" | "JIT" | "other";
const KINDS: ThreadKind[] = ["main user", "main system", "I/O pool", "GC helpers", "JIT", "other"];

function kindOf(name: string): ThreadKind {
  if (name.startsWith("Bun Pool") || name === "Bun") return "I/O pool";
  if (name.startsWith("HeapHelper") || name.startsWith("GC")) return "GC helpers";
  if (name.startsWith("JIT")) return "JIT";
  return "other";
}

/** CPU ticks per kind of thread of one process. */
function threadTicks(pid: number): Map<ThreadKind, number> {
  const ticks = new Map<ThreadKind, number>(KINDS.map((k) => [k, 0]));
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    let name: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
    } catch {
      continue; // the thread ended between listing and reading
    }
    // Fields after "(comm) ": state is [0], utime [11], stime [12].
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const user = Number(fields[11]);
    const system = Number(fields[12]);
    if (tid === String(pid)) {
      ticks.set("main user", user);
      ticks.set("main system", system);
    } else {
      const kind = kindOf(name);
      ticks.set(kind, ticks.get(kind)! + user + system);
    }
  }
  return ticks;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      binary: { type: "string", default: DKV_BINARY_DEFAULT },
      clients: { type: "string", default: "64" },
      seconds: { type: "string", default: "12" },
    },
  });
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  installExitHandlers();
  // The members run in a temp dir: a relative path must be made absolute first.
  const cluster = new DkvCluster({ firstHost: 51, binary: resolve(values.binary!) });
  try {
    await cluster.start();
    const leader = await cluster.leader();
    if (!leader) throw new Error("no leader");
    const members = cluster.members.map((m) => ({ name: m.host === leader.host ? `${m.name} (leader)` : m.name, pid: m.process!.pid }));
    const run = runLoadgen(
      putPoint({ leader, members: cluster.endpoints(), clients, warmupMs: WARMUP_MS, measureMs: seconds * 1000, serverPids: cluster.pids() }),
      LOADGEN_SLACK_MS,
    );
    const quarter = (seconds * 1000) / 4;
    await Bun.sleep(WARMUP_MS + quarter);
    const endpoints = cluster.endpoints();
    const writesBefore = await Promise.all(endpoints.map(logWrites));
    const before = members.map((m) => threadTicks(m.pid));
    const started = performance.now();
    await Bun.sleep(2 * quarter);
    const after = members.map((m) => threadTicks(m.pid));
    const writesAfter = await Promise.all(endpoints.map(logWrites));
    const sampledS = (performance.now() - started) / 1000;
    const result = await run;
    const puts = result.opsPerSec * sampledS;
    console.log(`put, ${clients} clients: ${Math.round(result.opsPerSec)} ops/s over the window, p99 ${result.p99Ms.toFixed(1)} ms; CPU µs per put over ${sampledS.toFixed(1)} s of its middle:`);
    console.log(["member".padEnd(14), ...KINDS.map((k) => k.padStart(12)), "total".padStart(8), "puts/fsync".padStart(11), "ms/fsync".padStart(9)].join(""));
    members.forEach((m, i) => {
      const perPut = KINDS.map((k) => ((after[i]!.get(k)! - before[i]!.get(k)!) / CLOCK_TICKS_PER_SECOND / puts) * 1e6);
      const fsyncs = writesAfter[i]!.count - writesBefore[i]!.count;
      const msPerFsync = ((writesAfter[i]!.seconds - writesBefore[i]!.seconds) * 1000) / fsyncs;
      const cells = [m.name.padEnd(14), ...perPut.map((v) => v.toFixed(1).padStart(12)), perPut.reduce((a, b) => a + b, 0).toFixed(1).padStart(8)];
      console.log([...cells, (puts / fsyncs).toFixed(1).padStart(11), msPerFsync.toFixed(2).padStart(9)].join(""));
    });
    console.log(`load generator: ${result.loadgenCpuUsPerOp.toFixed(1)} µs per put; machine busy ${result.busyPct.toFixed(0)}%`);
    console.log(`reproduce: bun run bench/compare/threads.ts --binary ${values.binary} --clients ${clients} --seconds ${seconds}`);
  } finally {
    await cluster.stop();
    killAll();
  }
}

await main();
