// Where a put point's p99 comes from: runs back-to-back put runs against one
// warm cluster (dkv or etcd) with the load generator recording every
// request, then groups the slowest 1% into episodes (slow requests whose
// lifetimes overlap). Slow requests spread evenly point at queueing; a few
// episodes that each catch most clients at once point at a stall of a server
// (a collector pause, a checkpoint, a snapshot) or of the load generator.
//
//   bun run bench/compare/tail.ts [--store dkv|etcd] [--clients 64] [--seconds 10] [--runs 3]
//                                 [--dkv-binary dist/dkv]
//
// Not part of CI; prints what it measured and the command that reproduces it.

import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Endpoint, ServerCluster } from "./cluster.ts";
import { DKV_BINARY_DEFAULT, DkvCluster } from "./dkv.ts";
import { EtcdCluster, ensureEtcd } from "./etcd.ts";
import type { LoadConfig } from "./loadgen.ts";
import { installExitHandlers, removeAtExit, waitFor } from "./procs.ts";
import { runLoadgen } from "./run-loadgen.ts";
import { KEY_COUNT_DEFAULT } from "./workload.ts";

/** How long a load generator may outlive its run before it is killed. */
const LOADGEN_SLACK_MS = 60_000;
/** Slow requests closer than this to an episode's end still belong to it. */
const EPISODE_GAP_MS = 2;

export interface Episode {
  startMs: number;
  endMs: number;
  requests: number;
}

/** The slowest 1% of requests (latency >= p99), grouped into episodes of overlapping lifetimes. */
export function slowEpisodes(startMs: readonly number[], latencyMs: readonly number[]): { p99: number; slow: number; episodes: Episode[] } {
  const sorted = [...latencyMs].sort((a, b) => a - b);
  const p99 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0;
  const spans: Array<[number, number]> = [];
  for (let i = 0; i < latencyMs.length; i++) if (latencyMs[i]! >= p99) spans.push([startMs[i]!, startMs[i]! + latencyMs[i]!]);
  spans.sort((a, b) => a[0] - b[0]);
  const episodes: Episode[] = [];
  for (const [start, end] of spans) {
    const last = episodes[episodes.length - 1];
    if (last !== undefined && start <= last.endMs + EPISODE_GAP_MS) {
      last.endMs = Math.max(last.endMs, end);
      last.requests += 1;
    } else {
      episodes.push({ startMs: start, endMs: end, requests: 1 });
    }
  }
  return { p99, slow: spans.length, episodes };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      store: { type: "string", default: "dkv" },
      clients: { type: "string", default: "64" },
      seconds: { type: "string", default: "10" },
      runs: { type: "string", default: "3" },
      "dkv-binary": { type: "string", default: DKV_BINARY_DEFAULT },
    },
  });
  const store = values.store === "etcd" ? "etcd" : "dkv";
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  const runs = Number(values.runs);
  installExitHandlers();
  if (store === "etcd") await ensureEtcd((line) => console.log(line));
  const cluster: ServerCluster = store === "etcd" ? new EtcdCluster(41) : new DkvCluster({ firstHost: 51, binary: values["dkv-binary"]! });
  const traceDir = removeAtExit(mkdtempSync(join(tmpdir(), "bench-tail-")));
  const command = `bun run bench/compare/tail.ts --store ${store} --clients ${clients} --seconds ${seconds} --runs ${runs}`;
  try {
    await cluster.start();
    const leader = await waitFor(`${store} leader`, 15_000, () => cluster.leader());
    const path = store === "etcd" ? "etcd-grpc" : "dkv-proto";
    await runLoadgen({ ...config(path, cluster, leader, 0), op: "populate", clients: 64 }, LOADGEN_SLACK_MS);
    console.log(`${command}\n${store}: 3 members on loopback, ${KEY_COUNT_DEFAULT} keys written; put runs of ${seconds} s at ${clients} clients, one after the other:`);
    for (let run = 0; run < runs; run++) {
      const traceFile = join(traceDir, `run${run}.json`);
      const current = (await cluster.leader()) ?? leader;
      const result = await runLoadgen({ ...config(path, cluster, current, seconds * 1000), op: "put", clients, traceFile }, LOADGEN_SLACK_MS);
      const trace = JSON.parse(readFileSync(traceFile, "utf8")) as { startMs: number[]; latencyMs: number[] };
      const { p99, slow, episodes } = slowEpisodes(trace.startMs, trace.latencyMs);
      const wide = episodes.filter((e) => e.requests >= clients / 2);
      const inWide = wide.reduce((sum, e) => sum + e.requests, 0);
      const biggest = [...episodes].sort((a, b) => b.requests - a.requests).slice(0, 5);
      console.log(
        `run ${run}: ${Math.round(result.opsPerSec)} puts/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms; ` +
          `${slow} requests at or above p99 in ${episodes.length} episodes; ${wide.length} episodes caught at least half the clients ` +
          `(${Math.round((inWide / Math.max(1, slow)) * 100)}% of the slow requests); largest (start ms: length ms, requests): ` +
          biggest.map((e) => `${Math.round(e.startMs)}: ${Math.round(e.endMs - e.startMs)}, ${e.requests}`).join("; "),
      );
    }
  } finally {
    await cluster.stop();
  }
}

function config(path: LoadConfig["path"], cluster: ServerCluster, leader: Endpoint, measureMs: number): Omit<LoadConfig, "op" | "clients"> {
  return {
    path,
    leader,
    members: cluster.endpoints(),
    warmupMs: 1000,
    measureMs,
    keyCount: KEY_COUNT_DEFAULT,
    getFraction: 0.9,
    serverPids: cluster.pids(),
    seed: 1,
    grpcClient: "raw",
  };
}

if (import.meta.main) {
  await main();
  process.exit(0);
}
