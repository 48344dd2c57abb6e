// Storage throughput on this machine's disk (not a test: too slow and too noisy
// for CI). Prints, on one run:
//   - the disk's raw fdatasync rate (the ceiling for durable commits),
//   - log appends/s with one entry per transaction and in batches of 10/100/1000
//     (256-byte payloads; one fsync per batch, as one Ready would do),
//   - KV apply rate (batches of puts with 256-byte values; apply unfsynced and fsynced),
//   - snapshot create MB/s (sliced copy on a second connection, and VACUUM INTO
//     for comparison) and restore MB/s (stage chunks + install).
// Run: bun run bench/storage/storage-bench.ts [--seconds N] [--rounds N] [--keys N] [--dir /path/on/the/disk/to/test]

import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { Database } from "bun:sqlite";
import { CommandSchema, PutCommandSchema } from "../../src/gen/dkv/raft/v1/command_pb";
import type { Entry } from "../../src/raft/types";
import { type Storage, openStorage } from "../../src/storage";

const { values: args } = parseArgs({
  options: { seconds: { type: "string", default: "2" }, dir: { type: "string" }, keys: { type: "string", default: "200000" }, rounds: { type: "string", default: "2" } },
});
const SECONDS_PER_CASE = Number(args.seconds);
const VALUE_BYTES = 256;
const SNAPSHOT_KEYS = Number(args.keys);
/** Log cases are repeated: the disk's speed drifts, so one round can mislead. */
const ROUNDS = Number(args.rounds);
const root = mkdtempSync(join(args.dir ?? tmpdir(), "dkv-bench-"));

console.log(`# dkv storage benchmark  (reproduce: bun run bench/storage/storage-bench.ts --seconds ${SECONDS_PER_CASE} --keys ${SNAPSHOT_KEYS} --rounds ${ROUNDS}${args.dir ? ` --dir ${args.dir}` : ""})`);
console.log(`# ${new Date().toISOString()}  bun ${Bun.version}  dir ${root}  ${SECONDS_PER_CASE}s per case`);

function perSecond(count: number, ms: number): string {
  return Math.round((count * 1000) / ms).toLocaleString("en-US");
}

/** Runs step() until the time budget is spent; returns [calls, elapsed ms]. */
function timed(step: () => void, seconds = SECONDS_PER_CASE): [number, number] {
  const start = performance.now();
  const budgetMs = seconds * 1000;
  let calls = 0;
  while (performance.now() - start < budgetMs) {
    step();
    calls += 1;
  }
  return [calls, performance.now() - start];
}

/**
 * The disk's own rate of durable small writes: write 256 bytes into a
 * preallocated region and fdatasync (what a reused WAL does). Measured right
 * before each log case, because this shared disk's speed drifts a lot.
 */
function rawFdatasyncPerSecond(seconds: number): number {
  const path = join(root, "fdatasync.bin");
  const block = new Uint8Array(VALUE_BYTES).fill(7);
  const regionBytes = 1024 * 1024;
  const fd = openSync(path, "w");
  writeSync(fd, new Uint8Array(regionBytes), 0, regionBytes, 0);
  fdatasyncSync(fd);
  let position = 0;
  const [calls, ms] = timed(() => {
    writeSync(fd, block, 0, block.byteLength, position);
    position = (position + 4096) % regionBytes;
    fdatasyncSync(fd);
  }, seconds);
  closeSync(fd);
  rmSync(path);
  return (calls * 1000) / ms;
}

function putCommand(key: string, value: Uint8Array): Uint8Array {
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "put", value: create(PutCommandSchema, { key, value }) } }));
}

function logAppends(batch: number): void {
  const diskPerSecond = rawFdatasyncPerSecond(1);
  const storage = openStorage(mkdtempSync(join(root, `log-${batch}-`)));
  const payload = new Uint8Array(VALUE_BYTES).fill(1);
  let next = 1;
  const [batches, ms] = timed(() => {
    const entries: Entry[] = new Array(batch);
    for (let i = 0; i < batch; i++) entries[i] = { index: next + i, term: 1, type: 0, data: payload };
    next += batch;
    storage.persistReady({ entries, hardState: { term: 1, vote: "n1", commit: next - 1 }, snapshotChunks: [] });
  });
  storage.close();
  const entriesPerSecond = perSecond(batches * batch, ms);
  console.log(
    `log append, ${String(batch).padStart(4)} entries/txn  ${entriesPerSecond.padStart(10)} entries/s  ${perSecond(batches, ms).padStart(6)} txn+fsync/s  ` +
      `${((batches * batch * VALUE_BYTES) / 1024 / 1024 / (ms / 1000)).toFixed(1).padStart(5)} MiB/s   | raw fdatasync just before: ${Math.round(diskPerSecond).toLocaleString("en-US")}/s`,
  );
}

function kvApply(batch: number): void {
  const storage = openStorage(mkdtempSync(join(root, `kv-${batch}-`)));
  const value = new Uint8Array(VALUE_BYTES).fill(2);
  const keySpace = 100_000;
  // Commands are encoded up front: the server receives them encoded.
  const commands = Array.from({ length: keySpace }, (_, i) => putCommand(`key/${String((i * 7919) % keySpace).padStart(6, "0")}`, value));
  let next = 1;
  const [batches, ms] = timed(() => {
    const entries: Entry[] = new Array(batch);
    for (let i = 0; i < batch; i++) entries[i] = { index: next + i, term: 1, type: 0, data: commands[(next + i) % keySpace]! };
    next += batch;
    storage.kv.apply(entries);
  });
  storage.close();
  console.log(`kv apply (in memory), ${String(batch).padStart(4)} puts/call ${perSecond(batches * batch, ms).padStart(10)} puts/s`);
}

function buildState(storage: Storage, keys: number): void {
  const value = new Uint8Array(VALUE_BYTES);
  const batch = 1000;
  for (let first = 1; first <= keys; first += batch) {
    const entries: Entry[] = [];
    for (let index = first; index < first + batch && index <= keys; index++) {
      value.fill(index % 251);
      entries.push({ index, term: 1, type: 0, data: putCommand(`key/${String(index).padStart(9, "0")}`, value) });
    }
    storage.kv.apply(entries);
  }
}

async function snapshots(): Promise<void> {
  const sender = openStorage(join(root, "snap-sender"));
  buildState(sender, SNAPSHOT_KEYS);
  const kvBytes = (new Database(sender.paths.database, { readonly: true }).query("SELECT SUM(length(key) + length(value)) AS n FROM kv").get() as { n: number }).n;

  // Measure how long writes would be held up: a timer that should fire every 1 ms.
  let maxTimerGapMs = 0;
  let lastTick = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    maxTimerGapMs = Math.max(maxTimerGapMs, now - lastTick);
    lastTick = now;
  }, 1);
  const createStart = performance.now();
  const meta = await sender.createSnapshot();
  const createMs = performance.now() - createStart;
  clearInterval(ticker);
  const stats = sender.lastSnapshotStats!;
  const mib = meta.sizeBytes / 1024 / 1024;
  console.log(
    `snapshot create (sliced, ${SNAPSHOT_KEYS.toLocaleString("en-US")} keys, ${(kvBytes / 1024 / 1024).toFixed(0)} MiB of keys+values): image ${mib.toFixed(1)} MiB in ${createMs.toFixed(0)} ms = ${(mib / (createMs / 1000)).toFixed(0)} MiB/s; ` +
      `longest event-loop hold ${stats.maxPauseMs.toFixed(1)} ms (timer gap ${maxTimerGapMs.toFixed(1)} ms), ${stats.slices} slices`,
  );

  // For comparison: VACUUM INTO copies the whole database in one blocking call.
  const vacuumPath = join(root, "vacuum-into.db");
  const reader = new Database(sender.paths.database, { readonly: true });
  const vacuumStart = performance.now();
  reader.prepare("VACUUM INTO ?").run(vacuumPath);
  const vacuumMs = performance.now() - vacuumStart;
  reader.close(true);
  const vacuumMib = statSync(vacuumPath).size / 1024 / 1024;
  console.log(
    `VACUUM INTO (for comparison):      ${vacuumMib.toFixed(1)} MiB in ${vacuumMs.toFixed(0)} ms = ${(vacuumMib / (vacuumMs / 1000)).toFixed(0)} MiB/s, blocking the event loop the whole time`,
  );
  rmSync(vacuumPath);

  const receiver = openStorage(join(root, "snap-receiver"));
  const chunkBytes = 1024 * 1024;
  const stageStart = performance.now();
  for (let offset = 0; ; ) {
    const { data, done } = sender.log.snapshotChunk(meta, offset, chunkBytes);
    receiver.writeSnapshotChunk({ meta, offset, data, done });
    offset += data.byteLength;
    if (done) break;
  }
  const stageMs = performance.now() - stageStart;
  const installStart = performance.now();
  receiver.installSnapshot(meta, await receiver.prepareSnapshot([], meta));
  const installMs = performance.now() - installStart;
  if (receiver.kv.count() !== SNAPSHOT_KEYS) throw new Error(`restored ${receiver.kv.count()} keys, expected ${SNAPSHOT_KEYS}`);
  console.log(
    `snapshot transfer (1 MiB chunks, read + staged write + fdatasync each): ${(mib / (stageMs / 1000)).toFixed(0)} MiB/s; ` +
      `install (verify SHA-256 + replace KV + log in one txn): ${installMs.toFixed(0)} ms = ${(mib / (installMs / 1000)).toFixed(0)} MiB/s; ` +
      `restore total ${(mib / ((stageMs + installMs) / 1000)).toFixed(0)} MiB/s`,
  );
  sender.close();
  receiver.close();
}

try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const batch of [1, 10, 100, 1000]) logAppends(batch);
  }
  for (const batch of [1, 100, 1000]) kvApply(batch);
  await snapshots();
} finally {
  rmSync(root, { recursive: true, force: true });
}
