// Side-by-side benchmark of dkv against etcd on this machine, one run:
// a 3-member etcd cluster and a 3-member dkv cluster on loopback, both driven
// by the same load generator (loadgen.ts, its own process per point) with the
// same workload, the stores alternated A/B point by point and repeated, and
// the medians written to BENCHMARKS.md.
//
//   bun run bench/compare/run.ts [--seconds 10] [--warmup 2] [--repeats 3] [--quick]
//                                [--only etcd|dkv] [--paths etcd-grpc,dkv-proto,...]
//                                [--grpc-client raw|node-http2] [--dkv-binary dist/dkv | --build]
//                                [--no-write] [--profile [--profile-seconds 10] [--profile-clients 64]]
//
// --quick: 3 s points, 1 s warm-up, one repeat (a smoke run; still written).
// --no-write: print the tables only; the raw runs go to a file in the temp dir.
// --build: build dkv from the committed HEAD into a temp dir and use that
// binary (dist/dkv, the default, may be stale or someone else's build).
// --profile: no comparison; runs the dkv members under `bun --cpu-prof`, drives
// one put point at the leader and writes the top functions to BENCHMARKS.md.
// With DKV_KEEP_PROFILES=dir the members' .cpuprofile files are copied there
// (for a look at whole stacks; profile.ts summarizes only).
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import type { Endpoint, ServerCluster } from "./cluster.ts";
import { DKV_BINARY_DEFAULT, DkvCluster, dkvVersion, REPO_ROOT } from "./dkv.ts";
import { EtcdCluster, ensureEtcd, etcdVersion } from "./etcd.ts";
import type { LoadConfig, LoadResult } from "./loadgen.ts";
import { machineTicks, installExitHandlers, killAll, processCpuTicks, CLOCK_TICKS_PER_SECOND, removeAtExit, waitFor } from "./procs.ts";
import { GrpcConnection } from "./grpc-h2.ts";
import { RawGrpcConnection } from "./grpc-raw.ts";
import { formatProfile, summarizeProfile } from "./profile.ts";
import { ProtoWriter } from "./protowire.ts";
import { median } from "./put-point.ts";
import { runLoadgen as runLoadgenProcess } from "./run-loadgen.ts";
import { renderProfileSection, renderResults, replaceSection, type Aggregate, type PointRun, type RunInfo } from "./report.ts";
import { KEY_COUNT_DEFAULT, PATHS, type OpName, type PathName } from "./workload.ts";

const BENCHMARKS_MD = join(REPO_ROOT, "BENCHMARKS.md");
const RESULTS_JSON = join(import.meta.dir, "results.json");
/** etcd on 127.0.0.11-13, dkv on 127.0.0.21-23: apart from each other and from other tests' 127.0.0.1-9. */
const ETCD_FIRST_HOST = 11;
const DKV_FIRST_HOST = 21;
const POPULATE_CLIENTS = 64;
/** A point's load generator is killed if it has not reported by warm-up + window + this. */
const LOADGEN_SLACK_MS = 60_000;
const LEADER_DEADLINE_MS = 15_000;
const IDLE_MEASURE_MS = 3_000;
/** A cluster restarted this many times is given up on for the rest of the run. */
const MAX_RESTARTS = 2;

export interface Workload {
  op: OpName;
  clients: number;
}

export const WORKLOADS: Workload[] = [
  { op: "put", clients: 1 },
  { op: "put", clients: 16 },
  { op: "put", clients: 64 },
  { op: "put", clients: 256 },
  { op: "get-lin", clients: 16 },
  { op: "get-lin", clients: 64 },
  { op: "get-ser", clients: 16 },
  { op: "get-ser", clients: 64 },
  { op: "mix", clients: 64 },
];
const GET_FRACTION = 0.9;

interface Options {
  seconds: number;
  warmupSeconds: number;
  repeats: number;
  quick: boolean;
  profile: boolean;
  profileSeconds: number;
  profileClients: number;
  only: "etcd" | "dkv" | undefined;
  paths: PathName[];
  grpcClient: "raw" | "node-http2";
  dkvBinary: string;
  /** Where the dkv sources live for profiling: the repo, or the committed tree --build exported. */
  sourceRoot: string;
  build: boolean;
  write: boolean;
  keyCount: number;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`--${name} needs a value`);
    return v;
  };
  const has = (name: string) => argv.includes(`--${name}`);
  const known = new Set(["seconds", "warmup", "repeats", "quick", "profile", "profile-seconds", "profile-clients", "only", "paths", "grpc-client", "dkv-binary", "build", "no-write", "keys"]);
  for (const arg of argv) if (arg.startsWith("--") && !known.has(arg.slice(2))) throw new Error(`unknown flag ${arg} (see the top of bench/compare/run.ts)`);
  const quick = has("quick");
  const number = (name: string, fallback: number) => {
    const v = value(name);
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${v}`);
    return n;
  };
  const only = value("only");
  if (only !== undefined && only !== "etcd" && only !== "dkv") throw new Error(`--only must be etcd or dkv, got ${only}`);
  const paths = (value("paths")?.split(",") ?? [...PATHS]) as PathName[];
  for (const p of paths) if (!PATHS.includes(p)) throw new Error(`unknown path ${p}; paths are ${PATHS.join(", ")}`);
  const grpcClient = value("grpc-client") ?? "raw";
  if (grpcClient !== "raw" && grpcClient !== "node-http2") throw new Error(`--grpc-client must be raw or node-http2`);
  return {
    seconds: number("seconds", quick ? 3 : 10),
    warmupSeconds: number("warmup", quick ? 1 : 2),
    repeats: Math.floor(number("repeats", quick ? 1 : 3)),
    quick,
    profile: has("profile"),
    profileSeconds: number("profile-seconds", 10),
    profileClients: number("profile-clients", 64),
    only,
    paths: paths.filter((p) => !only || p.startsWith(only)),
    grpcClient,
    dkvBinary: value("dkv-binary") ?? DKV_BINARY_DEFAULT,
    sourceRoot: REPO_ROOT,
    build: has("build"),
    write: !has("no-write"),
    keyCount: Math.floor(number("keys", KEY_COUNT_DEFAULT)),
  };
}

const log = (line: string) => process.stdout.write(`${line}\n`);

async function commandOutput(args: string[]): Promise<string> {
  try {
    const child = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    return (out || err).trim();
  } catch (error) {
    return `(${args[0]} failed: ${error})`;
  }
}

function loadAverage(): string {
  return readFileSync("/proc/loadavg", "latin1").split(" ").slice(0, 3).join(" ");
}

/** Fails early, with what to do, when the dkv binary cannot run a cluster member. */
async function checkDkvBinary(binary: string): Promise<void> {
  if (!existsSync(binary)) throw new Error(`${binary} does not exist: build it with \`npm run build\` (or pass --build)`);
  const help = await commandOutput([binary, "serve", "--help"]);
  if (!help.includes("listen-client-address")) {
    throw new Error(`${binary} has no usable \`serve\` command (stale build?): rebuild with \`npm run build\` (or pass --build)\n${help.slice(0, 400)}`);
  }
}

class Store {
  restarts = 0;
  givenUp: string | undefined;
  constructor(
    readonly name: "etcd" | "dkv",
    public cluster: ServerCluster,
    private readonly make: () => ServerCluster,
  ) {}

  async replace(): Promise<void> {
    await this.cluster.stop().catch(() => {});
    this.cluster = this.make();
    this.restarts++;
  }
}

function runLoadgen(config: LoadConfig): Promise<LoadResult> {
  return runLoadgenProcess(config, LOADGEN_SLACK_MS);
}

function baseConfig(options: Options, path: PathName, cluster: ServerCluster, leader: Endpoint): Omit<LoadConfig, "op" | "clients"> {
  return {
    path,
    leader,
    members: cluster.endpoints(),
    warmupMs: options.warmupSeconds * 1000,
    measureMs: options.seconds * 1000,
    keyCount: options.keyCount,
    getFraction: GET_FRACTION,
    serverPids: cluster.pids(),
    seed: 0x9e3779b9,
    grpcClient: options.grpcClient,
  };
}

/** Starts (or restarts) a store's cluster and writes every key once, so every get has something to find. */
async function startAndPopulate(store: Store, options: Options, incidents: string[]): Promise<void> {
  const started = performance.now();
  await store.cluster.start();
  const leader = await waitFor(`${store.name} leader`, LEADER_DEADLINE_MS, () => store.cluster.leader());
  const path: PathName = store.name === "etcd" ? "etcd-grpc" : "dkv-proto";
  const result = await runLoadgen({ ...baseConfig(options, path, store.cluster, leader), op: "populate", clients: POPULATE_CLIENTS });
  log(`${store.name}: cluster up in ${((performance.now() - started) / 1000).toFixed(1)} s, leader ${leader.host}:${leader.port}; wrote ${result.ops} keys at ${Math.round(result.opsPerSec)}/s${result.errors ? ` (${result.errors} errors retried: ${result.errorSamples.join("; ")})` : ""}`);
  if (result.errors) incidents.push(`${store.name}: populating ${options.keyCount} keys needed ${result.errors} retries: ${result.errorSamples.join("; ")}`);
}

/** The leader to aim at, restarting the cluster if it has lost its members or its leader. */
async function healthyLeader(store: Store, options: Options, incidents: string[]): Promise<Endpoint | undefined> {
  if (store.givenUp) return undefined;
  for (;;) {
    const problem = !store.cluster.alive() ? "a member process exited" : undefined;
    const leader = problem ? undefined : await waitFor(`${store.name} leader`, LEADER_DEADLINE_MS, () => store.cluster.leader()).catch(() => undefined);
    if (leader) return leader;
    const what = `${store.name}: ${problem ?? `no leader within ${LEADER_DEADLINE_MS / 1000} s`}; last log lines:\n${store.cluster.logs(12)}`;
    incidents.push(what);
    log(`!! ${what}`);
    if (store.restarts >= MAX_RESTARTS) {
      store.givenUp = `${store.name} given up after ${store.restarts} restarts`;
      incidents.push(store.givenUp);
      return undefined;
    }
    log(`!! restarting the ${store.name} cluster (fresh data dirs) and repopulating`);
    await store.replace();
    try {
      await startAndPopulate(store, options, incidents);
    } catch (error) {
      incidents.push(`${store.name}: restart failed: ${error instanceof Error ? error.message : error}`);
    }
  }
}

/**
 * The raw gRPC client never decodes grpc-status (see grpc-raw.ts); check once
 * per run, against the node:http2 client that does, that both see the same
 * outcomes for a good put, a good read and a rejected put (empty key).
 */
async function checkGrpcClients(leader: Endpoint): Promise<void> {
  const frame = (m: Uint8Array) => {
    const out = new Uint8Array(5 + m.length);
    new DataView(out.buffer).setUint32(1, m.length);
    out.set(m, 5);
    return out;
  };
  const utf8 = new TextEncoder();
  const cases: Array<[string, Uint8Array, boolean]> = [
    ["/etcdserverpb.KV/Put", frame(new ProtoWriter().field(1, utf8.encode("bench-selftest")).field(2, utf8.encode("v")).finish()), true],
    ["/etcdserverpb.KV/Range", frame(new ProtoWriter().field(1, utf8.encode("bench-selftest")).finish()), true],
    ["/etcdserverpb.KV/Put", frame(new ProtoWriter().field(2, utf8.encode("v")).finish()), false],
  ];
  for (const open of [RawGrpcConnection.open, GrpcConnection.open]) {
    const conn = await open(leader.host, leader.port);
    for (const [path, message, shouldSucceed] of cases) {
      const error = await new Promise<Error | undefined>((resolve) => conn.call(path, message, (e) => resolve(e)));
      if (!error !== shouldSucceed) throw new Error(`gRPC client self-test: ${path} ${shouldSucceed ? "failed" : "succeeded"} but should not have: ${error?.message ?? ""}`);
    }
    conn.close();
  }
}

function aggregate(runs: PointRun[]): Aggregate[] {
  const groups = new Map<string, PointRun[]>();
  for (const run of runs) {
    const key = `${run.op}|${run.clients}|${run.path}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return [...groups.values()].map((group) => {
    const ok = group.flatMap((r) => (r.result ? [r.result] : []));
    const first = group[0]!;
    return {
      op: first.op,
      clients: first.clients,
      path: first.path,
      runs: group.length,
      okRuns: ok.length,
      opsPerSec: median(ok.map((r) => r.opsPerSec)),
      opsMin: Math.min(...ok.map((r) => r.opsPerSec)),
      opsMax: Math.max(...ok.map((r) => r.opsPerSec)),
      p50Ms: median(ok.map((r) => r.p50Ms)),
      p99Ms: median(ok.map((r) => r.p99Ms)),
      loadgenCpuPct: median(ok.map((r) => r.loadgenCpuPct)),
      loadgenCpuUsPerOp: median(ok.map((r) => r.loadgenCpuUsPerOp)),
      serverCpuPct: median(ok.map((r) => r.serverCpuPct.reduce((a, b) => a + b, 0))),
      leaderCpuPct: median(group.flatMap((r) => (r.result && r.leaderIndex !== undefined ? [r.result.serverCpuPct[r.leaderIndex] ?? Number.NaN] : []))),
      stealPct: median(ok.map((r) => r.stealPct)),
      busyPct: median(ok.map((r) => r.busyPct)),
      // Whatever else ran on the machine (other people's tests, the idle cluster): busy cores minus ours, in % of one core.
      othersCpuPct: median(ok.map((r) => (r.busyPct * cpus().length) - r.loadgenCpuPct - r.serverCpuPct.reduce((a, b) => a + b, 0))),
      errors: ok.reduce((a, r) => a + r.errors, 0),
      notFound: ok.reduce((a, r) => a + r.notFound, 0),
      stuck: ok.reduce((a, r) => a + r.stuck, 0),
      failures: group.flatMap((r) => (r.error ? [r.error] : [])),
      errorSamples: [...new Set(ok.flatMap((r) => r.errorSamples))].slice(0, 5),
    } satisfies Aggregate;
  });
}

/** CPU of each cluster while nobody calls it: the cost one pays for the other store standing by during a point. */
async function idleCost(stores: Store[]): Promise<Record<string, number>> {
  const before = stores.map((s) => s.cluster.pids().map((pid) => processCpuTicks(pid) ?? 0));
  const t0 = performance.now();
  await Bun.sleep(IDLE_MEASURE_MS);
  const seconds = (performance.now() - t0) / 1000;
  const out: Record<string, number> = {};
  stores.forEach((s, i) => {
    const after = s.cluster.pids().map((pid) => processCpuTicks(pid) ?? 0);
    const ticks = after.reduce((a, b, j) => a + b - (before[i]![j] ?? 0), 0);
    out[s.name] = (ticks / CLOCK_TICKS_PER_SECOND / seconds) * 100;
  });
  return out;
}

function formatLine(run: PointRun): string {
  const head = `[${run.repeat}] ${run.op.padEnd(7)} c=${String(run.clients).padEnd(3)} ${run.path.padEnd(9)}`;
  if (!run.result) return `${head} FAILED: ${run.error}`;
  const r = run.result;
  const servers = r.serverCpuPct.reduce((a, b) => a + b, 0);
  const problems = [r.errors ? `${r.errors} errors (${r.errorSamples[0]})` : "", r.notFound ? `${r.notFound} not found` : "", r.stuck ? `${r.stuck} stuck` : ""].filter(Boolean).join(", ");
  const others = r.busyPct * cpus().length - r.loadgenCpuPct - servers;
  return `${head} ${Math.round(r.opsPerSec).toLocaleString("en-US").padStart(7)} ops/s  p50 ${r.p50Ms.toFixed(2)} p99 ${r.p99Ms.toFixed(2)} ms | gen ${r.loadgenCpuPct.toFixed(0)}% (${r.loadgenCpuUsPerOp.toFixed(1)} µs/op) | servers ${servers.toFixed(0)}% | others ${others.toFixed(0)}% | steal ${r.stealPct.toFixed(1)}%${problems ? ` | ${problems}` : ""}`;
}

async function runInfo(options: Options, stores: Store[]): Promise<RunInfo> {
  const model = /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "latin1"))?.[1] ?? cpus()[0]?.model ?? "unknown";
  return {
    date: new Date().toISOString(),
    command: `bun run bench/compare/run.ts ${process.argv.slice(2).join(" ")}`.trim(),
    nproc: Number(await commandOutput(["nproc"])) || cpus().length,
    cpuModel: model.trim(),
    memory: `${Math.round(Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "latin1"))?.[1] ?? 0) / 1024 / 1024)} GiB`,
    kernel: await commandOutput(["uname", "-r"]),
    etcd: stores.some((s) => s.name === "etcd") ? await etcdVersion() : "(not run)",
    dkv: stores.some((s) => s.name === "dkv") ? await dkvVersion(options.dkvBinary) : "(not run)",
    bun: Bun.version,
    gitCommit: await commandOutput(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]),
    seconds: options.seconds,
    warmupSeconds: options.warmupSeconds,
    repeats: options.repeats,
    keyCount: options.keyCount,
    grpcClient: options.grpcClient,
    loadBefore: loadAverage(),
    loadAfter: "",
    idleCpuPct: {},
  };
}

async function compare(options: Options): Promise<void> {
  const incidents: string[] = [];
  const stores: Store[] = [];
  if (options.only !== "dkv") {
    await ensureEtcd(log);
    stores.push(new Store("etcd", new EtcdCluster(ETCD_FIRST_HOST), () => new EtcdCluster(ETCD_FIRST_HOST)));
  }
  if (options.only !== "etcd") {
    await checkDkvBinary(options.dkvBinary);
    const make = () => new DkvCluster({ firstHost: DKV_FIRST_HOST, binary: options.dkvBinary });
    stores.push(new Store("dkv", make(), make));
  }
  const info = await runInfo(options, stores);
  log(`dkv vs etcd: ${info.nproc} × ${info.cpuModel}; etcd ${info.etcd}; ${info.dkv}; bun ${info.bun}; load average ${info.loadBefore}`);
  const runs: PointRun[] = [];
  try {
    for (const store of stores) await startAndPopulate(store, options, incidents);
    const etcd = stores.find((s) => s.name === "etcd");
    if (etcd) await checkGrpcClients(await waitFor("etcd leader", LEADER_DEADLINE_MS, () => etcd.cluster.leader()));
    info.idleCpuPct = await idleCost(stores);
    log(`idle CPU: ${Object.entries(info.idleCpuPct).map(([k, v]) => `${k} ${v.toFixed(1)}%`).join(", ")}`);
    // A/B/A/B within a workload, the order flipped on every other repeat, so drift in the host's steal hits both stores alike.
    const pairs: PathName[][] = [
      ["etcd-grpc", "dkv-proto"],
      ["etcd-json", "dkv-json"],
    ];
    for (let repeat = 1; repeat <= options.repeats; repeat++) {
      for (const [w, workload] of WORKLOADS.entries()) {
        const flip = (repeat + w) % 2 === 0;
        const order = pairs.flatMap((pair) => (flip ? [...pair].reverse() : pair)).filter((p) => options.paths.includes(p));
        for (const path of order) {
          const store = stores.find((s) => path.startsWith(s.name));
          if (!store) continue;
          const run: PointRun = { repeat, op: workload.op, clients: workload.clients, path, startedAt: new Date().toISOString(), load1: loadAverage().split(" ")[0]! };
          const leader = await healthyLeader(store, options, incidents);
          if (!leader) {
            run.error = store.givenUp ?? `${store.name} has no leader`;
          } else {
            run.leaderIndex = store.cluster.endpoints().findIndex((e) => e.host === leader.host && e.port === leader.port);
            try {
              run.result = await runLoadgen({ ...baseConfig(options, path, store.cluster, leader), op: workload.op, clients: workload.clients });
            } catch (error) {
              run.error = error instanceof Error ? error.message : String(error);
            }
            if (!store.cluster.alive()) incidents.push(`${store.name}: a member died during ${workload.op} c=${workload.clients} ${path}:\n${store.cluster.logs(12)}`);
            if (run.result && (run.result.errors || run.result.stuck)) {
              incidents.push(`${path} ${workload.op} c=${workload.clients} (repeat ${repeat}): ${run.result.errors} errors, ${run.result.stuck} stuck: ${run.result.errorSamples.join("; ")}`);
            }
          }
          runs.push(run);
          log(formatLine(run));
        }
      }
    }
  } finally {
    info.loadAfter = loadAverage();
    for (const store of stores) await store.cluster.stop().catch(() => {});
    killAll();
  }
  const aggregates = aggregate(runs);
  const markdown = renderResults(info, aggregates, incidents, options.paths);
  log("");
  log(markdown);
  // results.json holds the raw runs behind BENCHMARKS.md's tables: a --no-write run keeps its own beside them, not in their place.
  const resultsPath = options.write ? RESULTS_JSON : join(tmpdir(), `dkv-bench-results-${info.date.replace(/[:.]/g, "-")}.json`);
  writeFileSync(resultsPath, `${JSON.stringify({ info, runs, incidents }, null, 1)}\n`);
  if (options.write) {
    writeFileSync(BENCHMARKS_MD, replaceSection(existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, "utf8") : "", "results", markdown));
    log(`\nwrote ${BENCHMARKS_MD} and ${RESULTS_JSON}`);
  } else {
    log(`\nwrote the raw runs to ${resultsPath} (--no-write: BENCHMARKS.md and bench/compare/results.json untouched)`);
  }
}

async function profile(options: Options): Promise<void> {
  const incidents: string[] = [];
  const profileDir = removeAtExit(mkdtempSync(join(tmpdir(), "bench-dkv-profile-")));
  const cluster = new DkvCluster({ firstHost: DKV_FIRST_HOST, binary: options.dkvBinary, profileDir, sourceRoot: options.sourceRoot });
  const store = new Store("dkv", cluster, () => cluster);
  const clients = options.profileClients;
  let leaderName = "";
  let result: LoadResult | undefined;
  const loadBefore = loadAverage();
  const steal0 = machineTicks();
  try {
    await startAndPopulate(store, options, incidents);
    const leader = await waitFor("dkv leader", LEADER_DEADLINE_MS, () => cluster.leader());
    leaderName = cluster.members.find((m) => m.host === leader.host && m.clientPort === leader.port)?.name ?? "";
    result = await runLoadgen({ ...baseConfig(options, "dkv-proto", cluster, leader), measureMs: options.profileSeconds * 1000, op: "put", clients });
    log(formatLine({ repeat: 1, op: "put", clients, path: "dkv-proto", startedAt: "", load1: "", result }));
  } finally {
    await cluster.stop(); // SIGTERM: each member writes its profile on the way out
    killAll();
  }
  const steal1 = machineTicks();
  const sections: string[] = [];
  for (const m of cluster.members) {
    const dir = join(profileDir, m.name);
    const files = existsSync(dir) ? [...new Bun.Glob("*.cpuprofile").scanSync(dir)] : [];
    if (files.length === 0) {
      sections.push(`No profile was written for ${m.name}${m.name === leaderName ? " (the leader)" : ""}.`);
      continue;
    }
    const window = result ? { fromEpochMs: result.windowStartEpochMs, toEpochMs: result.windowEndEpochMs } : undefined;
    const summary = summarizeProfile(join(dir, files[0]!), options.sourceRoot, m.name === leaderName ? 25 : 10, window);
    sections.push(formatProfile(summary, `${m.name}${m.name === leaderName ? " — the leader" : " — a follower"}`));
  }
  if (process.env.DKV_KEEP_PROFILES) cpSync(profileDir, process.env.DKV_KEEP_PROFILES, { recursive: true });
  rmSync(profileDir, { recursive: true, force: true });
  const leaderFirst = sections.sort((a, b) => Number(b.includes("the leader")) - Number(a.includes("the leader")));
  const markdown = renderProfileSection({
    date: new Date().toISOString(),
    command: `bun run bench/compare/run.ts ${process.argv.slice(2).join(" ")}`.trim(),
    loadBefore,
    stealPct: ((steal1.steal - steal0.steal) / (steal1.total - steal0.total || 1)) * 100,
    result,
    clients,
    seconds: options.profileSeconds,
    sections: leaderFirst,
    gitCommit: await commandOutput(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]),
  });
  log("");
  log(markdown);
  if (options.write) {
    writeFileSync(BENCHMARKS_MD, replaceSection(existsSync(BENCHMARKS_MD) ? readFileSync(BENCHMARKS_MD, "utf8") : "", "profile", markdown));
    log(`\nwrote the profile section of ${BENCHMARKS_MD}`);
  }
}

async function main(): Promise<void> {
  installExitHandlers();
  const options = parseOptions(process.argv.slice(2));
  let buildDir: string | undefined;
  try {
    if (options.build) {
      buildDir = await buildCommittedDkv();
      options.dkvBinary = join(buildDir, "dist/dkv");
      options.sourceRoot = buildDir;
    }
    if (options.profile) await profile(options);
    else await compare(options);
  } finally {
    if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  }
}

/**
 * Builds dkv from the committed HEAD (not the working tree, where others'
 * unfinished edits may not compile) into a temp dir, the way `npm run build`
 * does, without touching dist/. The figures then belong to one commit.
 */
async function buildCommittedDkv(): Promise<string> {
  const commit = await commandOutput(["git", "-C", REPO_ROOT, "rev-parse", "--short", "HEAD"]);
  const dir = removeAtExit(mkdtempSync(join(tmpdir(), "bench-dkv-build-")));
  log(`building dkv from commit ${commit} into ${dir}`);
  const steps: Array<{ args: string[]; cwd: string }> = [
    { args: ["sh", "-c", `git -C '${REPO_ROOT}' archive HEAD | tar -x -C '${dir}'`], cwd: dir },
    { args: ["ln", "-s", join(REPO_ROOT, "node_modules"), join(dir, "node_modules")], cwd: dir },
    {
      args: [process.execPath, "build", "--compile", "--minify", "--sourcemap", "--define", `DKV_BUILD_COMMIT="${commit}"`, "src/cli/main.ts", "--outfile", "dist/dkv"],
      cwd: dir,
    },
  ];
  for (const step of steps) {
    const child = Bun.spawn(step.args, { cwd: step.cwd, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    if (code !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`building dkv failed at \`${step.args.join(" ")}\`:\n${(out + err).split("\n").slice(-15).join("\n")}`);
    }
  }
  return dir;
}


main().catch((error) => {
  killAll();
  process.stderr.write(`bench/compare: ${error instanceof Error ? error.message : error}\n`);
  process.exit(1);
});
