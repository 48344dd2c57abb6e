// Summarizes a V8/JSC-style .cpuprofile (what `bun --cpu-prof` writes): the
// functions with the most self time, the most inclusive time, and self time
// per source file — enough to see where a dkv member spends its CPU.
//
//   bun bench/compare/profile.ts FILE.cpuprofile [--top 25]
import { readFileSync } from "node:fs";
import { relative } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileRow {
  name: string;
  where: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
}

export interface ProfileSummary {
  /** Wall-clock span the profile covers. */
  spanMs: number;
  /** Samples × the typical interval: time the JS thread was running (JS or native calls from JS). */
  sampledMs: number;
  /** Time in "(idle)" / "(program)"-like pseudo frames, reported apart from busy time. */
  idleMs: number;
  busyMs: number;
  topSelf: ProfileRow[];
  topTotal: ProfileRow[];
  byFile: Array<{ file: string; selfMs: number; selfPct: number }>;
}

const IDLE_FRAMES = new Set(["(idle)"]);
const ROOT_FRAMES = new Set(["(root)", "(program)", "(idle)"]);

function shortUrl(url: string, repoRoot: string): string {
  if (!url) return "(native)";
  const path = url.startsWith("file://") ? url.slice(7) : url;
  return path.startsWith(repoRoot) ? relative(repoRoot, path) : path.replace(/^.*\/node_modules\//, "node_modules/");
}

/** Epoch-ms bounds: only samples taken inside them are counted (the profile's clock is epoch µs). */
export interface ProfileWindow {
  fromEpochMs: number;
  toEpochMs: number;
}

export function summarizeProfile(file: string, repoRoot: string, top = 25, window?: ProfileWindow): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) byId.set(node.id, node);
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const key = (n: ProfileNode) =>
    `${n.callFrame.functionName || "(anonymous)"}\u0000${n.callFrame.url ? `${shortUrl(n.callFrame.url, repoRoot)}:${n.callFrame.lineNumber + 1}` : "(native)"}`;
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  let sampledMicros = 0;
  let idleMicros = 0;
  // Bun samples the JS thread only while it runs JS or a native call made from
  // JS (a SQLite commit blocked in fsync counts); event-loop idle is not
  // sampled, but the gap shows up in the next sample's timeDelta. So weigh
  // every sample the same, by the typical sampling interval, not by its delta.
  const deltas = [...profile.timeDeltas].sort((a, b) => a - b);
  const micros = deltas[Math.floor(deltas.length / 2)] ?? 1000;
  let sampleAt = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    sampleAt += profile.timeDeltas[i] ?? 0;
    if (window && (sampleAt < window.fromEpochMs * 1000 || sampleAt > window.toEpochMs * 1000)) continue;
    const leaf = byId.get(profile.samples[i]!);
    if (!leaf) continue;
    sampledMicros += micros;
    if (IDLE_FRAMES.has(leaf.callFrame.functionName)) {
      idleMicros += micros;
      continue;
    }
    const leafKey = key(leaf);
    self.set(leafKey, (self.get(leafKey) ?? 0) + micros);
    const url = shortUrl(leaf.callFrame.url, repoRoot);
    fileSelf.set(url, (fileSelf.get(url) ?? 0) + micros);
    // Inclusive: every distinct function on the stack, once per sample (recursion counted once).
    const seen = new Set<string>();
    for (let node: ProfileNode | undefined = leaf; node; node = byId.get(parent.get(node.id) ?? -1)) {
      if (ROOT_FRAMES.has(node.callFrame.functionName)) continue;
      const k = key(node);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + micros);
    }
  }
  const busyMicros = sampledMicros - idleMicros || 1;
  const row = (k: string): ProfileRow => {
    const [name, where] = k.split("\u0000") as [string, string];
    const s = self.get(k) ?? 0;
    const t = total.get(k) ?? 0;
    return { name, where, selfMs: s / 1000, selfPct: (s / busyMicros) * 100, totalMs: t / 1000, totalPct: (t / busyMicros) * 100 };
  };
  const sortedBy = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k]) => row(k));
  return {
    spanMs: window ? window.toEpochMs - window.fromEpochMs : (profile.endTime - profile.startTime) / 1000,
    sampledMs: sampledMicros / 1000,
    idleMs: idleMicros / 1000,
    busyMs: busyMicros / 1000,
    topSelf: sortedBy(self),
    topTotal: sortedBy(total),
    byFile: [...fileSelf.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([f, us]) => ({ file: f, selfMs: us / 1000, selfPct: (us / busyMicros) * 100 })),
  };
}

export function formatProfile(summary: ProfileSummary, title: string): string {
  const lines: string[] = [];
  lines.push(`#### ${title}`, "");
  lines.push(
    `The JS thread was sampled inside JS (running, blocked in a native call made from JS, or waiting meanwhile for a core; a follower's profile here covers ~6 s of each 10 s, while without the profiler its main thread runs ~2 s per 11 s by /proc schedstat, so read these as wall time, not CPU) for ~${(summary.busyMs / 1000).toFixed(1)} s of the ${(summary.spanMs / 1000).toFixed(1)} s profiled (${((summary.busyMs / (summary.spanMs || 1)) * 100).toFixed(0)}%); waiting in the event loop is not sampled. Percentages are of the sampled time.`,
    "",
  );
  lines.push("Top self time:", "", "| self % | self ms | total % | function | where |", "|---:|---:|---:|---|---|");
  for (const r of summary.topSelf) lines.push(`| ${r.selfPct.toFixed(1)} | ${r.selfMs.toFixed(0)} | ${r.totalPct.toFixed(1)} | \`${r.name}\` | ${r.where} |`);
  lines.push("", "Top inclusive time:", "", "| total % | self % | function | where |", "|---:|---:|---|---|");
  for (const r of summary.topTotal) lines.push(`| ${r.totalPct.toFixed(1)} | ${r.selfPct.toFixed(1)} | \`${r.name}\` | ${r.where} |`);
  lines.push("", "Self time by file:", "", "| self % | file |", "|---:|---|");
  for (const f of summary.byFile) lines.push(`| ${f.selfPct.toFixed(1)} | ${f.file} |`);
  return lines.join("\n");
}

if (import.meta.main) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: bun bench/compare/profile.ts FILE.cpuprofile [--top N]\n");
    process.exit(2);
  }
  const topIndex = process.argv.indexOf("--top");
  const top = topIndex > 0 ? Number(process.argv[topIndex + 1]) : 25;
  console.log(formatProfile(summarizeProfile(file, new URL("../..", import.meta.url).pathname.replace(/\/$/, ""), top), file));
}
