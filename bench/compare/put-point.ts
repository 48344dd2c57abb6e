// What the smaller bench tools (ab.ts, threads.ts, api/layers.ts) share: one
// put point's load-generator settings, and the median they report.
import type { Endpoint } from "./cluster.ts";
import type { LoadConfig } from "./loadgen.ts";
import { KEY_COUNT_DEFAULT } from "./workload.ts";

/** Connect binary puts at `leader`, the benchmark's key space and seed. */
export function putPoint(o: { leader: Endpoint; members: Endpoint[]; clients: number; warmupMs: number; measureMs: number; serverPids: number[] }): LoadConfig {
  return {
    path: "dkv-proto",
    op: "put",
    clients: o.clients,
    leader: o.leader,
    members: o.members,
    warmupMs: o.warmupMs,
    measureMs: o.measureMs,
    keyCount: KEY_COUNT_DEFAULT,
    getFraction: 0.9,
    serverPids: o.serverPids,
    seed: 0x9e3779b9,
    grpcClient: "raw",
  };
}

/** The median of the finite values (NaN when there are none). */
export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
