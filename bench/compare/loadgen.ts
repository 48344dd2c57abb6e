// The load generator: one process, run once per measured point, so its CPU
// is its own and is reported beside every figure. Closed-loop clients (each
// sends its next request when the last one answers) over one of the four
// paths; a warm-up, then a measured window; prints one JSON line (LoadResult).
//
//   bun bench/compare/loadgen.ts '<LoadConfig as JSON>'
import type { Endpoint } from "./cluster.ts";
import { CALLS_PER_CONNECTION, GrpcConnection } from "./grpc-h2.ts";
import { RawGrpcConnection } from "./grpc-raw.ts";
import { buildRequest, H1Connection } from "./http1.ts";
import { machineTicks, processCpuTicks, CLOCK_TICKS_PER_SECOND } from "./procs.ts";
import { encodeRequests, foundInBody, type OpName, type PathName } from "./workload.ts";

export interface LoadConfig {
  path: PathName;
  /** "populate" writes every key once (before the gets) and measures nothing. */
  op: OpName | "populate";
  clients: number;
  leader: Endpoint;
  members: Endpoint[];
  warmupMs: number;
  measureMs: number;
  keyCount: number;
  /** Share of gets in the "mix" workload. */
  getFraction: number;
  serverPids: number[];
  seed: number;
  /** gRPC transport: "raw" (hand-written HTTP/2 frames, the default) or "node-http2" (node:http2; ~7x the CPU per call). */
  grpcClient: "raw" | "node-http2";
  /** When set, every measured request's start (ms into the window) and latency are written here as JSON (see tail.ts). */
  traceFile?: string;
}

export interface LoadResult {
  path: PathName;
  op: string;
  clients: number;
  connections: number;
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** Failed requests over the whole run (warm-up and window). */
  errors: number;
  /** Gets answered without the (pre-written) key. */
  notFound: number;
  errorSamples: string[];
  /** Requests still unanswered when the grace period after the window ended. */
  stuck: number;
  measuredMs: number;
  /** Wall-clock (epoch ms) bounds of the measured window, to cut server-side profiles to it. */
  windowStartEpochMs: number;
  windowEndEpochMs: number;
  /** CPU of this process over the window, in % of one core. */
  loadgenCpuPct: number;
  loadgenCpuUsPerOp: number;
  /** CPU of each server process over the window, in % of one core (same order as serverPids). */
  serverCpuPct: number[];
  /** Machine-wide share of CPU time stolen by the hypervisor during the window. */
  stealPct: number;
  /** Machine-wide busy share (not idle, not stolen) during the window. */
  busyPct: number;
}

/** How long requests still in flight after the window may take before the run reports them as stuck. */
const GRACE_MS = 10_000;
/** Pause after a failed request, so a broken server does not turn the generator into a busy loop. */
const ERROR_PAUSE_MS = 20;
const MAX_ERROR_SAMPLES = 5;

type Done = (error: Error | undefined, body: Uint8Array) => void;
interface Channel {
  send(isPut: boolean, key: number, done: Done): void;
  readonly closed: boolean;
  reopen(): Promise<void>;
}

/** One HTTP/1.1 connection per client: HTTP/1.1 has one request in flight per connection. */
async function h1Channels(config: LoadConfig, targets: Endpoint[]): Promise<Channel[]> {
  const encoded = encodeRequests(config.path, config.keyCount);
  const extra: Record<string, string> = config.path.startsWith("dkv") ? { "Connect-Protocol-Version": "1" } : {};
  const puts = encoded.put.map((body) => buildRequest(encoded.putPath, encoded.contentType, body, extra));
  const gets = (config.op === "get-ser" ? encoded.getSerializable : encoded.getLinearizable).map((body) => buildRequest(encoded.getPath, encoded.contentType, body, extra));
  return Promise.all(
    targets.map(async (target) => {
      let conn = await H1Connection.open(target.host, target.port);
      return {
        get closed() {
          return conn.closed;
        },
        async reopen() {
          conn = await H1Connection.open(target.host, target.port);
        },
        send(isPut: boolean, key: number, done: Done) {
          conn.send(isPut ? puts[key]! : gets[key]!, (error, status, body) => {
            if (!error && status !== 200) error = new Error(`HTTP ${status}: ${Buffer.from(body).toString("utf8", 0, Math.min(body.length, 200))}`);
            done(error, body);
          });
        },
      } satisfies Channel;
    }),
  );
}

/** Clients share HTTP/2 connections, CALLS_PER_CONNECTION per connection to each target. */
async function grpcChannels(config: LoadConfig, targets: Endpoint[]): Promise<{ channels: Channel[]; connections: number }> {
  const encoded = encodeRequests(config.path, config.keyCount);
  const gets = config.op === "get-ser" ? encoded.getSerializable : encoded.getLinearizable;
  const byTarget = new Map<string, Endpoint[]>();
  for (const t of targets) {
    const id = `${t.host}:${t.port}`;
    byTarget.set(id, [...(byTarget.get(id) ?? []), t]);
  }
  const channels: Channel[] = [];
  let connections = 0;
  for (const group of byTarget.values()) {
    const target = group[0]!;
    const open = (): Promise<GrpcConnection | RawGrpcConnection> =>
      config.grpcClient === "node-http2" ? GrpcConnection.open(target.host, target.port) : RawGrpcConnection.open(target.host, target.port);
    const pool: Array<GrpcConnection | RawGrpcConnection> = [];
    for (let i = 0; i < Math.ceil(group.length / CALLS_PER_CONNECTION); i++) pool.push(await open());
    connections += pool.length;
    group.forEach((_, i) => {
      const slot = i % pool.length;
      channels.push({
        get closed() {
          return pool[slot]!.closed;
        },
        async reopen() {
          pool[slot] = await open();
        },
        send(isPut: boolean, key: number, done: Done) {
          pool[slot]!.call(isPut ? encoded.putPath : encoded.getPath, isPut ? encoded.put[key]! : gets[key]!, done);
        },
      });
    });
  }
  return { channels, connections };
}

/** Where each client sends its requests: the leader, except serializable reads, which any member may answer. */
function clientTargets(config: LoadConfig): Endpoint[] {
  const targets: Endpoint[] = [];
  for (let c = 0; c < config.clients; c++) targets.push(config.op === "get-ser" ? config.members[c % config.members.length]! : config.leader);
  return targets;
}

class Latencies {
  private values = new Float64Array(1 << 16);
  count = 0;
  add(ms: number): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = ms;
  }
  /** The values in the order they were added. */
  raw(): Float64Array {
    return this.values.subarray(0, this.count);
  }
  summary(): { p50: number; p99: number; mean: number; max: number } {
    const sorted = this.values.subarray(0, this.count).slice().sort();
    const at = (q: number) => (this.count === 0 ? 0 : sorted[Math.min(this.count - 1, Math.floor(q * this.count))]!);
    let sum = 0;
    for (const v of sorted) sum += v;
    return { p50: at(0.5), p99: at(0.99), mean: this.count ? sum / this.count : 0, max: this.count ? sorted[this.count - 1]! : 0 };
  }
}

interface Snapshot {
  atMs: number;
  epochMs: number;
  cpuMicros: number;
  serverTicks: (number | undefined)[];
  machine: ReturnType<typeof machineTicks>;
}

function snapshot(pids: number[]): Snapshot {
  const cpu = process.cpuUsage();
  return { atMs: performance.now(), epochMs: Date.now(), cpuMicros: cpu.user + cpu.system, serverTicks: pids.map(processCpuTicks), machine: machineTicks() };
}

async function populate(config: LoadConfig, channels: Channel[]): Promise<LoadResult> {
  let nextKey = 0;
  let written = 0;
  let errors = 0;
  const samples: string[] = [];
  const started = performance.now();
  await Promise.all(
    channels.map(async (channel) => {
      for (;;) {
        const key = nextKey++;
        if (key >= config.keyCount) return;
        // Every key must land: retry (bounded) until it does.
        for (let attempt = 0; ; attempt++) {
          const error = await new Promise<Error | undefined>((resolve) => channel.send(true, key, (e) => resolve(e)));
          if (!error) break;
          errors++;
          if (samples.length < MAX_ERROR_SAMPLES) samples.push(error.message);
          if (attempt >= 20) throw new Error(`populate: key ${key} failed 20 times: ${error.message}`);
          await Bun.sleep(ERROR_PAUSE_MS * 5);
          if (channel.closed) await channel.reopen().catch(() => {});
        }
        written++;
      }
    }),
  );
  const elapsed = performance.now() - started;
  return emptyResult(config, { ops: written, opsPerSec: (written / elapsed) * 1000, errors, errorSamples: samples, measuredMs: elapsed });
}

function emptyResult(config: LoadConfig, fields: Partial<LoadResult>): LoadResult {
  return {
    path: config.path, op: config.op, clients: config.clients, connections: 0, ops: 0, opsPerSec: 0, p50Ms: 0, p99Ms: 0, meanMs: 0, maxMs: 0,
    errors: 0, notFound: 0, errorSamples: [], stuck: 0, measuredMs: 0, windowStartEpochMs: 0, windowEndEpochMs: 0, loadgenCpuPct: 0, loadgenCpuUsPerOp: 0, serverCpuPct: [], stealPct: 0, busyPct: 0,
    ...fields,
  };
}

async function measure(config: LoadConfig, channels: Channel[], connections: number): Promise<LoadResult> {
  const latencies = new Latencies();
  const traceStarts = config.traceFile ? new Latencies() : undefined;
  let errors = 0;
  let notFound = 0;
  const samples: string[] = [];
  let inFlight = 0;
  let windowStart = Number.POSITIVE_INFINITY;
  let windowEnd = Number.POSITIVE_INFINITY;
  let stopping = false;
  const t0 = performance.now();
  const stopAt = t0 + config.warmupMs + config.measureMs;
  let seed = config.seed >>> 0 || 1;
  const random = () => {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    return seed;
  };
  const getCut = Math.floor(config.getFraction * 1000);
  let allDone: () => void = () => {};
  const finished = new Promise<void>((resolve) => (allDone = resolve));

  const loop = (channel: Channel) => {
    if (stopping || performance.now() >= stopAt) {
      if (inFlight === 0) allDone();
      return;
    }
    const key = random() % config.keyCount;
    const isPut = config.op === "put" || (config.op === "mix" && random() % 1000 >= getCut);
    const started = performance.now();
    inFlight++;
    channel.send(isPut, key, (error, body) => {
      inFlight--;
      const ended = performance.now();
      const inWindow = started >= windowStart && ended <= windowEnd;
      if (error) {
        errors++; // over the whole run, warm-up included: a failure is a failure
        if (samples.length < MAX_ERROR_SAMPLES && !samples.includes(error.message)) samples.push(error.message);
        setTimeout(async () => {
          if (channel.closed) await channel.reopen().catch(() => {});
          loop(channel);
        }, ERROR_PAUSE_MS);
        return;
      }
      if (!isPut && !foundInBody(config.path, body)) {
        if (inWindow) notFound++;
      } else if (inWindow) {
        latencies.add(ended - started);
        traceStarts?.add(started - windowStart);
      }
      loop(channel);
    });
  };

  for (const channel of channels) loop(channel);
  await Bun.sleep(config.warmupMs);
  const first = snapshot(config.serverPids);
  windowStart = first.atMs;
  await Bun.sleep(Math.max(0, stopAt - performance.now()));
  const last = snapshot(config.serverPids);
  windowEnd = last.atMs;
  const grace = Bun.sleep(GRACE_MS).then(() => (stopping = true));
  await Promise.race([finished, grace]);

  const elapsedMs = last.atMs - first.atMs;
  if (config.traceFile && traceStarts) {
    await Bun.write(config.traceFile, JSON.stringify({ startMs: Array.from(traceStarts.raw()), latencyMs: Array.from(latencies.raw()), clients: config.clients }));
  }
  const ops = latencies.count;
  const summary = latencies.summary();
  const loadgenMicros = last.cpuMicros - first.cpuMicros;
  const machineTotal = last.machine.total - first.machine.total || 1;
  return {
    path: config.path,
    op: config.op,
    clients: config.clients,
    connections,
    ops,
    opsPerSec: (ops / elapsedMs) * 1000,
    p50Ms: summary.p50,
    p99Ms: summary.p99,
    meanMs: summary.mean,
    maxMs: summary.max,
    errors,
    notFound,
    errorSamples: samples,
    stuck: inFlight,
    measuredMs: elapsedMs,
    windowStartEpochMs: first.epochMs,
    windowEndEpochMs: last.epochMs,
    loadgenCpuPct: (loadgenMicros / 1000 / elapsedMs) * 100,
    loadgenCpuUsPerOp: ops ? loadgenMicros / ops : 0,
    serverCpuPct: config.serverPids.map((_, i) => {
      const a = first.serverTicks[i];
      const b = last.serverTicks[i];
      return a === undefined || b === undefined ? Number.NaN : (((b - a) / CLOCK_TICKS_PER_SECOND) * 1000 * 100) / elapsedMs;
    }),
    stealPct: ((last.machine.steal - first.machine.steal) / machineTotal) * 100,
    busyPct: ((machineTotal - (last.machine.idle - first.machine.idle) - (last.machine.steal - first.machine.steal)) / machineTotal) * 100,
  };
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? "") as LoadConfig;
  const targets = config.op === "populate" ? Array.from({ length: config.clients }, () => config.leader) : clientTargets(config);
  let channels: Channel[];
  let connections: number;
  if (config.path === "etcd-grpc") {
    ({ channels, connections } = await grpcChannels(config, targets));
  } else {
    channels = await h1Channels(config, targets);
    connections = channels.length;
  }
  const result = config.op === "populate" ? await populate(config, channels) : await measure(config, channels, connections);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Open sockets would keep the process alive; the result is out, so leave now.
  process.exit(0);
}

if (import.meta.main) {
  main().catch((error) => {
    process.stderr.write(`loadgen: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
    process.exit(1);
  });
}
