// Proves the sender of a large snapshot never holds it in memory: builds a KV
// state larger than 200 MB, then a separate SENDER process creates a snapshot
// and streams it chunk by chunk (one chunk in flight, like raft's snapshot
// transfer) to this process, which stages and installs it. Prints the sender's
// peak resident memory (VmHWM: the high-water mark over its whole life) next
// to the state size. Not a test: it takes a while and writes ~1 GB to disk.
//
// Run: bun run bench/storage/snapshot-memory.ts [--mb 220] [--chunk-kib 1024] [--dir /tmp]
// (the script re-runs itself as `... build <dir>` and `... send <dir> <chunk bytes>`)

import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { Database } from "bun:sqlite";
import { CommandSchema, PutCommandSchema } from "../../src/gen/dkv/raft/v1/command_pb";
import type { Entry, SnapshotMeta } from "../../src/raft/types";
import { openStorage } from "../../src/storage";

const VALUE_BYTES = 1024;
const SCRIPT = import.meta.path;

/** Peak and current resident set size of this process, from the kernel. */
function memoryKib(): { peakKib: number; currentKib: number } {
  const status = readFileSync("/proc/self/status", "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { peakKib: field("VmHWM"), currentKib: field("VmRSS") };
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

/** Child: fill a data dir with `megabytes` of keys + values through the log and the KV state machine. */
function build(dir: string, megabytes: number): void {
  const storage = openStorage(dir);
  const keys = Math.ceil((megabytes * 1024 * 1024) / (VALUE_BYTES + 16));
  const value = new Uint8Array(VALUE_BYTES);
  const batch = 1000;
  for (let first = 1; first <= keys; first += batch) {
    const entries: Entry[] = [];
    for (let index = first; index < first + batch && index <= keys; index++) {
      for (let i = 0; i < VALUE_BYTES; i += 8) value[i] = (index * 31 + i) & 0xff;
      const command = create(CommandSchema, {
        op: { case: "put", value: create(PutCommandSchema, { key: `state/${String(index).padStart(12, "0")}`, value }) },
      });
      entries.push({ index, term: 1, type: 0, data: toBinary(CommandSchema, command) });
    }
    // As a node would: log + hard state durable first, then apply.
    storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: entries[entries.length - 1]!.index }, snapshotChunks: [] });
    storage.applyCommitted(entries);
  }
  storage.close();
}

/** Child: create the snapshot, then answer "chunk <offset>" lines on stdin with one frame each on stdout. */
async function send(dir: string, chunkBytes: number): Promise<void> {
  const storage = openStorage(dir);
  const afterOpen = memoryKib();
  const meta = await storage.createSnapshot();
  const afterCreate = memoryKib();
  const writeFrame = async (kind: string, body: Uint8Array) => {
    const header = new Uint8Array(5);
    header[0] = kind.charCodeAt(0);
    new DataView(header.buffer).setUint32(1, body.byteLength, false);
    await Bun.write(Bun.stdout, header); // Bun.write to stdout resolves when written
    await Bun.write(Bun.stdout, body);
  };
  await writeFrame("M", new TextEncoder().encode(JSON.stringify(meta)));
  let maxCurrentKib = afterCreate.currentKib;
  for await (const line of console) {
    const [command, offsetText] = line.split(" ");
    if (command !== "chunk") break;
    const { data, done } = storage.log.snapshotChunk(meta, Number(offsetText), chunkBytes);
    await writeFrame(done ? "L" : "C", data);
    maxCurrentKib = Math.max(maxCurrentKib, memoryKib().currentKib);
    if (done) break;
  }
  storage.close();
  const final = memoryKib();
  console.error(JSON.stringify({ afterOpenKib: afterOpen.currentKib, peakKib: final.peakKib, peakAfterCreateKib: afterCreate.peakKib, maxSampledKib: maxCurrentKib, stats: storage.lastSnapshotStats }));
}

/** Reads length-prefixed frames from a byte stream without keeping more than one frame. */
class FrameReader {
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;
  private readonly chunks: AsyncIterator<Uint8Array>;
  constructor(stream: ReadableStream<Uint8Array>) {
    this.chunks = stream[Symbol.asyncIterator]();
  }
  private async need(bytes: number): Promise<void> {
    while (this.bufferedBytes < bytes) {
      const { value, done } = await this.chunks.next();
      if (done === true) throw new Error(`sender ended the stream early (needed ${bytes} bytes, had ${this.bufferedBytes})`);
      this.buffered.push(value);
      this.bufferedBytes += value.byteLength;
    }
  }
  private take(bytes: number): Uint8Array {
    const out = new Uint8Array(bytes);
    let filled = 0;
    while (filled < bytes) {
      const head = this.buffered[0]!;
      const used = Math.min(head.byteLength, bytes - filled);
      out.set(head.subarray(0, used), filled);
      filled += used;
      if (used === head.byteLength) this.buffered.shift();
      else this.buffered[0] = head.subarray(used);
    }
    this.bufferedBytes -= bytes;
    return out;
  }
  async next(): Promise<{ kind: string; body: Uint8Array }> {
    await this.need(5);
    const header = this.take(5);
    const length = new DataView(header.buffer).getUint32(1, false);
    await this.need(length);
    return { kind: String.fromCharCode(header[0]!), body: this.take(length) };
  }
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: { mb: { type: "string", default: "220" }, "chunk-kib": { type: "string", default: "1024" }, dir: { type: "string" } },
  });
  const megabytes = Number(args.mb);
  const chunkBytes = Number(args["chunk-kib"]) * 1024;
  const root = mkdtempSync(join(args.dir ?? tmpdir(), "dkv-snapmem-"));
  console.log(`# snapshot memory  (reproduce: bun run bench/storage/snapshot-memory.ts --mb ${megabytes} --chunk-kib ${chunkBytes / 1024}${args.dir ? ` --dir ${args.dir}` : ""})`);
  try {
    const senderDir = join(root, "sender");
    let started = performance.now();
    const builder = Bun.spawn(["bun", "run", SCRIPT, "build", senderDir, String(megabytes)], { stdout: "inherit", stderr: "inherit" });
    if ((await builder.exited) !== 0) throw new Error("build failed");
    const probe = new Database(join(senderDir, "dkv.db"), { readonly: true });
    const state = probe.query("SELECT COUNT(*) AS keys, SUM(length(key) + length(value)) AS bytes FROM kv").get() as { keys: number; bytes: number };
    probe.close(true);
    console.log(
      `state: ${state.keys.toLocaleString("en-US")} keys, ${mib(state.bytes)} MiB of keys+values, database file ${mib(statSync(join(senderDir, "dkv.db")).size)} MiB (built in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );

    started = performance.now();
    const sender = Bun.spawn(["bun", "run", SCRIPT, "send", senderDir, String(chunkBytes)], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const frames = new FrameReader(sender.stdout);
    const first = await frames.next().catch(async (error) => {
      throw new Error(`${String(error)}; sender said: ${await new Response(sender.stderr).text()}`);
    });
    const meta = JSON.parse(new TextDecoder().decode(first.body)) as SnapshotMeta;
    const createdMs = performance.now() - started;

    const receiver = openStorage(join(root, "receiver"));
    started = performance.now();
    let offset = 0;
    let chunks = 0;
    for (;;) {
      sender.stdin.write(`chunk ${offset}\n`);
      sender.stdin.flush();
      const frame = await frames.next();
      const done = frame.kind === "L";
      if (!receiver.writeSnapshotChunk({ meta, offset, data: frame.body, done })) throw new Error(`chunk at ${offset} refused`);
      offset += frame.body.byteLength;
      chunks += 1;
      if (done) break;
    }
    sender.stdin.end();
    const streamedMs = performance.now() - started;
    const report = JSON.parse(await new Response(sender.stderr).text()) as {
      afterOpenKib: number;
      peakKib: number;
      peakAfterCreateKib: number;
      maxSampledKib: number;
    };
    await sender.exited;

    started = performance.now();
    receiver.installSnapshot(meta, await receiver.prepareSnapshot([], meta));
    const installMs = performance.now() - started;
    if (receiver.kv.count() !== state.keys) throw new Error(`restored ${receiver.kv.count()} keys, expected ${state.keys}`);
    receiver.close();

    console.log(`snapshot: ${mib(meta.sizeBytes)} MiB image at index ${meta.index}, created in ${(createdMs / 1000).toFixed(1)} s (incl. sender start)`);
    console.log(`streamed: ${chunks} chunks of ${chunkBytes / 1024} KiB in ${(streamedMs / 1000).toFixed(1)} s (${(meta.sizeBytes / 1024 / 1024 / (streamedMs / 1000)).toFixed(0)} MiB/s); installed in ${(installMs / 1000).toFixed(1)} s; ${state.keys.toLocaleString("en-US")} keys restored`);
    console.log(
      `SENDER PEAK RSS: ${mib(report.peakKib * 1024)} MiB over its whole life (${mib(report.peakAfterCreateKib * 1024)} MiB after creating the snapshot; ` +
        `max sampled while streaming ${mib(report.maxSampledKib * 1024)} MiB; ${mib(report.afterOpenKib * 1024)} MiB right after opening the data dir) for a ${mib(state.bytes)} MiB state / ${mib(meta.sizeBytes)} MiB image`,
    );
    console.log(`receiver (this process) peak RSS: ${mib(memoryKib().peakKib * 1024)} MiB`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const [mode, dirArg, extra] = process.argv.slice(2);
if (mode === "build") build(dirArg!, Number(extra));
else if (mode === "send") await send(dirArg!, Number(extra));
else await main();
