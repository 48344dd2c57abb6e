// Turns measured points into the Markdown of BENCHMARKS.md. The file keeps
// hand-written text; only the sections between the generated markers are
// replaced, each by the mode that produces it (comparison or profile).
import type { LoadResult } from "./loadgen.ts";
import type { OpName, PathName } from "./workload.ts";

export interface PointRun {
  repeat: number;
  op: OpName;
  clients: number;
  path: PathName;
  startedAt: string;
  /** 1-minute load average when the point started. */
  load1: string;
  leaderIndex?: number;
  result?: LoadResult;
  error?: string;
}

export interface Aggregate {
  op: OpName;
  clients: number;
  path: PathName;
  runs: number;
  okRuns: number;
  opsPerSec: number;
  opsMin: number;
  opsMax: number;
  p50Ms: number;
  p99Ms: number;
  loadgenCpuPct: number;
  loadgenCpuUsPerOp: number;
  serverCpuPct: number;
  leaderCpuPct: number;
  stealPct: number;
  busyPct: number;
  othersCpuPct: number;
  errors: number;
  notFound: number;
  stuck: number;
  failures: string[];
  errorSamples: string[];
}

export interface RunInfo {
  date: string;
  command: string;
  nproc: number;
  cpuModel: string;
  memory: string;
  kernel: string;
  etcd: string;
  dkv: string;
  bun: string;
  gitCommit: string;
  seconds: number;
  warmupSeconds: number;
  repeats: number;
  keyCount: number;
  grpcClient: string;
  loadBefore: string;
  loadAfter: string;
  idleCpuPct: Record<string, number>;
}

const OP_LABEL: Record<OpName, string> = {
  put: "put",
  "get-lin": "linearizable get",
  "get-ser": "serializable get",
  mix: "90/10 get/put",
};

const PATH_LABEL: Record<PathName, string> = {
  "etcd-grpc": "etcd gRPC",
  "etcd-json": "etcd JSON gateway",
  "dkv-proto": "dkv Connect binary",
  "dkv-json": "dkv Connect JSON",
};

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");
const ms = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n.toFixed(1)) : "—");
const pct = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "—");

function cell(a: Aggregate | undefined): string {
  if (!a) return "not run";
  if (a.okRuns === 0) return "failed";
  const flags = a.errors || a.notFound || a.stuck ? " ⚠" : "";
  return `${int(a.opsPerSec)} (${ms(a.p50Ms)} / ${ms(a.p99Ms)})${flags}`;
}

function ratio(dkv: Aggregate | undefined, etcd: Aggregate | undefined): string {
  if (!dkv || !etcd || !dkv.okRuns || !etcd.okRuns || !etcd.opsPerSec) return "—";
  return `${(dkv.opsPerSec / etcd.opsPerSec).toFixed(2)}x`;
}

function best(list: Array<Aggregate | undefined>): Aggregate | undefined {
  return list.filter((a): a is Aggregate => !!a && a.okRuns > 0).sort((a, b) => b.opsPerSec - a.opsPerSec)[0];
}

export function renderResults(info: RunInfo, aggregates: Aggregate[], incidents: string[], paths: PathName[]): string {
  const find = (op: OpName, clients: number, path: PathName) => aggregates.find((a) => a.op === op && a.clients === clients && a.path === path);
  const workloads = [...new Map(aggregates.map((a) => [`${a.op}|${a.clients}`, { op: a.op, clients: a.clients }])).values()];
  const steal = aggregates.map((a) => a.stealPct).filter(Number.isFinite);
  const stealMedian = steal.length ? steal.sort((a, b) => a - b)[Math.floor(steal.length / 2)]! : Number.NaN;
  const lines: string[] = [];
  lines.push(`## Latest comparison run`, "");
  lines.push(`- Date: ${info.date}`);
  lines.push(`- Command: \`${info.command}\` (git ${info.gitCommit})`);
  lines.push(`- Machine: ${info.nproc} vCPU, ${info.cpuModel}, ${info.memory} RAM, Linux ${info.kernel}`);
  lines.push(`- Versions: etcd ${info.etcd}; ${info.dkv}; bun ${info.bun}`);
  const others = aggregates.map((a) => a.othersCpuPct).filter(Number.isFinite).sort((a, b) => a - b);
  const othersMedian = others.length ? others[Math.floor(others.length / 2)]! : Number.NaN;
  lines.push(`- Load: 1/5/15-min load average ${info.loadBefore} before, ${info.loadAfter} after; other work on the machine used a median ${pct(othersMedian)}% of a core during the points (column "others" below); median CPU steal ${pct(stealMedian)}%`);
  lines.push(`- Points: ${info.warmupSeconds} s warm-up + ${info.seconds} s measured, ${info.repeats} repeat(s), stores alternated A/B per point (order flipped every other repeat); figures are medians over repeats`);
  lines.push(`- Idle cost of a cluster standing by while the other is measured: ${Object.entries(info.idleCpuPct).map(([k, v]) => `${k} ${v.toFixed(1)}% of a core`).join(", ")}`);
  lines.push("");
  lines.push(`### Throughput, ops/s (p50 / p99 latency, ms)`, "");
  lines.push("| workload | clients | etcd gRPC | dkv Connect binary | dkv/etcd | etcd JSON gateway | dkv Connect JSON | dkv/etcd | best dkv / best etcd |");
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const w of workloads) {
    const eg = find(w.op, w.clients, "etcd-grpc");
    const dp = find(w.op, w.clients, "dkv-proto");
    const ej = find(w.op, w.clients, "etcd-json");
    const dj = find(w.op, w.clients, "dkv-json");
    lines.push(`| ${OP_LABEL[w.op]} | ${w.clients} | ${cell(eg)} | ${cell(dp)} | ${ratio(dp, eg)} | ${cell(ej)} | ${cell(dj)} | ${ratio(dj, ej)} | ${ratio(best([dp, dj]), best([eg, ej]))} |`);
  }
  lines.push("", "⚠ = some requests failed, found nothing or hung (see Incidents). Ratios above 1 mean dkv did more operations per second.", "");
  lines.push(`### CPU beside every figure`, "");
  lines.push("Load generator CPU is its own process (% of one core, and µs per completed operation). Servers: the three members' CPU summed (% of one core; 200% is the whole machine), and the leader's share. Others: everything else that ran meanwhile (busy CPU of the machine minus generator and servers: other people's work, the idle cluster). All from /proc over the measured window.", "");
  lines.push("| workload | clients | path | ops/s (min–max over repeats) | generator CPU % (µs/op) | servers CPU % (leader) | others CPU % | steal % | errors / not found |");
  lines.push("|---|---:|---|---:|---:|---:|---:|---:|---:|");
  for (const w of workloads) {
    for (const path of paths) {
      const a = find(w.op, w.clients, path);
      if (!a) continue;
      if (a.okRuns === 0) {
        lines.push(`| ${OP_LABEL[w.op]} | ${w.clients} | ${PATH_LABEL[path]} | failed | | | | | ${a.failures[0]?.split("\n")[0] ?? ""} |`);
        continue;
      }
      lines.push(
        `| ${OP_LABEL[w.op]} | ${w.clients} | ${PATH_LABEL[path]} | ${int(a.opsPerSec)} (${int(a.opsMin)}–${int(a.opsMax)}) | ${pct(a.loadgenCpuPct)} (${a.loadgenCpuUsPerOp.toFixed(1)}) | ${pct(a.serverCpuPct)} (${pct(a.leaderCpuPct)}) | ${pct(a.othersCpuPct)} | ${a.stealPct.toFixed(1)} | ${a.errors} / ${a.notFound}${a.stuck ? ` / ${a.stuck} stuck` : ""} |`,
      );
    }
  }
  lines.push("");
  lines.push(`### Incidents`, "");
  if (incidents.length === 0) lines.push("None: no request failed, no member died, no leader was lost.");
  for (const incident of incidents) lines.push("```", incident.trim(), "```");
  lines.push("");
  lines.push(`### How it was measured`, "");
  lines.push(
    [
      `- Clusters: 3 etcd members on 127.0.0.11-13 and 3 dkv members on 127.0.0.21-23, each with its own temp data dir and each store's default durability (both fsync before acknowledging a write) and default heartbeat/election settings. Both clusters run for the whole run; the one not being measured idles (cost above).`,
      `- Workload: a ${info.keyCount.toLocaleString("en-US")}-key space (keys 8-16 bytes, values 256 bytes, the same bytes for both stores), every key written before the first point; each client picks keys uniformly at random. Closed loop: each client sends its next request when the previous one answers. The mix is 90% linearizable gets, 10% puts.`,
      `- Routing, as a good client would: puts, linearizable gets and the mix go to the leader (etcd's found with \`etcdctl endpoint status\`, dkv's with \`MaintenanceAPI/Status\` isLeader); serializable gets are spread over all three members.`,
      `- Load generator (bench/compare/loadgen.ts, one Bun process per point): etcd gRPC through a hand-written HTTP/2 client on Bun.connect (\`--grpc-client ${info.grpcClient}\`; pre-encoded protobuf, up to 64 calls per connection; node:http2 costs 50-115 µs of client CPU per call here and is available as \`--grpc-client node-http2\`), the etcd JSON gateway (\`/v3/kv/put\`, \`/v3/kv/range\`, base64) and dkv's Connect binary/JSON (\`/dkv.v1.DkvAPI/Set|Get\`) through a minimal HTTP/1.1 keep-alive client on Bun.connect, one connection per client. Gets that find nothing count as failures, not as operations.`,
      `- Latency is per request, from send to complete response, for requests started and finished inside the measured window.`,
    ].join("\n"),
  );
  return lines.join("\n");
}

export interface ProfileInfo {
  date: string;
  command: string;
  gitCommit: string;
  loadBefore: string;
  stealPct: number;
  result: LoadResult | undefined;
  clients: number;
  seconds: number;
  sections: string[];
}

export function renderProfileSection(info: ProfileInfo): string {
  const lines: string[] = [];
  lines.push(`## Latest profile of a dkv put point`, "");
  lines.push(`- Date: ${info.date}; command: \`${info.command}\` (git ${info.gitCommit}); load average before ${info.loadBefore}; steal ${info.stealPct.toFixed(1)}%`);
  lines.push(`- Every member ran from source under \`bun --cpu-prof\` (the compiled binary honours \`BUN_OPTIONS=--cpu-prof\` too, but its minified names make the profile unreadable); one put point, ${info.clients} clients, Connect binary, at the leader, ${info.seconds} s after warm-up; only samples inside the measured window are counted.`);
  const r = info.result;
  if (r) {
    lines.push(`- Throughput under the profiler: ${int(r.opsPerSec)} ops/s, p50 ${ms(r.p50Ms)} / p99 ${ms(r.p99Ms)} ms; servers ${pct(r.serverCpuPct.reduce((a, b) => a + b, 0))}% CPU; errors ${r.errors}`);
  }
  lines.push("");
  lines.push(...info.sections.flatMap((s) => [s, ""]));
  return lines.join("\n").trimEnd();
}

/** Replaces (or appends) the generated section `name` of a Markdown document, leaving the rest as written. */
export function replaceSection(document: string, name: string, body: string): string {
  const start = `<!-- generated:${name}:start (bench/compare/run.ts rewrites this section) -->`;
  const end = `<!-- generated:${name}:end -->`;
  const block = `${start}\n${body.trim()}\n${end}`;
  const from = document.indexOf(start);
  const to = document.indexOf(end);
  if (from >= 0 && to > from) return document.slice(0, from) + block + document.slice(to + end.length);
  const header = document.trim() ? document.trimEnd() : "# Benchmarks: dkv against etcd\n\nProduced by `bun run bench:compare` (bench/compare/run.ts). Text outside the generated sections is written by hand.";
  return `${header}\n\n${block}\n`;
}
