// Counters the bench tools read from a dkv member's /metrics (Prometheus text).
import type { Endpoint } from "./cluster.ts";

async function metricsText(endpoint: Endpoint): Promise<string> {
  return (await fetch(`http://${endpoint.host}:${endpoint.port}/metrics`)).text();
}

/** The value of the first sample of `name` (labels, if any, ignored); NaN when absent. */
function firstSample(text: string, name: string): number {
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, "m").exec(text)?.[1] ?? NaN);
}

/** How many raft-log fsyncs the member has done (one per Ready that carried entries or a vote). */
export async function logFsyncs(endpoint: Endpoint): Promise<number> {
  return (await logWrites(endpoint)).count;
}

/** The member's raft-log writes so far: how many, and their summed wall time (SQLite commit and fdatasync) in seconds. */
export async function logWrites(endpoint: Endpoint): Promise<{ count: number; seconds: number }> {
  const text = await metricsText(endpoint);
  return { count: firstSample(text, "dkv_disk_wal_fsync_duration_seconds_count"), seconds: firstSample(text, "dkv_disk_wal_fsync_duration_seconds_sum") };
}

/** How many raft ticks of the member fired more than 25 ms late. */
export async function lateTicks(endpoint: Endpoint): Promise<number> {
  const text = await metricsText(endpoint);
  const count = firstSample(text, "dkv_server_event_loop_delay_seconds_count");
  const within = Number(/^dkv_server_event_loop_delay_seconds_bucket\{[^}]*le="0\.025"[^}]*\} (\S+)/m.exec(text)?.[1] ?? NaN);
  return count - within;
}
