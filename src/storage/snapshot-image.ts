// A snapshot image is a small SQLite file: the kv table as of one applied index
// plus a snapshot_meta row (index, term, revision, membership, cluster id).
//
// Creating one must not stop writes for long. SQLite's WAL gives a reader on a
// second connection a frozen point-in-time view for as long as its read
// transaction lasts, while the writer connection keeps committing. So a helper
// connection opens a read transaction, and copies the kv table into the image
// in key-ordered slices of native INSERT ... SELECT, yielding to the event loop
// between slices (bun:sqlite is synchronous: one long statement would block
// every request). VACUUM INTO would be a single blocking call over the whole
// database (log included); bench/storage measures both.
//
// SQLite has no page checksums, so a flipped byte in a value would go unnoticed.
// The image is therefore sealed: a 48-byte trailer (magic, length of the SQLite
// part, SHA-256 of it) is appended - SQLite ignores bytes past the size in its
// header - and the receiver checks it before the image may replace any state.

import { Database } from "bun:sqlite";
import { appendFileSync, closeSync, openSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import type { ConfState } from "../raft/types";
import { StorageError, assert } from "./errors";
import { readExactly } from "./files";
import {
  SNAPSHOT_APPLICATION_ID,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_SCHEMA_SQL,
  classifyHeader,
  decodeConfState,
  readHeader,
} from "./schema";
import { closeDatabase, configureReader } from "./sqlite";

/** Rows copied per INSERT ... SELECT: 1,024 took ~8 ms here, every slice a stall of its own past the budget. */
export const SNAPSHOT_SLICE_ROWS = 256;
/** Run slices back to back for at most this long before yielding to the event loop. */
export const SNAPSHOT_SLICE_BUDGET_MS = 8;

export interface ImageMeta {
  index: number;
  term: number;
  revision: number;
  confState: ConfState;
  clusterId: string;
}

export interface CreateImageStats {
  rows: number;
  slices: number;
  /** Longest the event loop was held by one run of slices. */
  maxPauseMs: number;
  totalMs: number;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Writes the image of the applied state of the database at `databasePath`
 * into `targetPath` (created; fsynced before returning).
 */
export async function createImage(
  databasePath: string,
  targetPath: string,
  options: { clusterId: string; isClosed: () => boolean },
): Promise<{ meta: ImageMeta; stats: CreateImageStats }> {
  const startedMs = performance.now();
  rmSync(targetPath, { force: true });
  try {
    const { meta, stats } = await copyApplied(databasePath, targetPath, options);
    await sealImage(targetPath, options.isClosed);
    // Flushing tens of MB takes long: off the event loop (fs/promises runs it on a worker thread).
    const handle = await open(targetPath, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    stats.totalMs = performance.now() - startedMs;
    return { meta, stats };
  } catch (error) {
    rmSync(targetPath, { force: true });
    throw error;
  }
}

async function copyApplied(
  databasePath: string,
  targetPath: string,
  options: { clusterId: string; isClosed: () => boolean },
): Promise<{ meta: ImageMeta; stats: CreateImageStats }> {
  // create: ATTACH inherits the open flags and must create the image file.
  const reader = new Database(databasePath, { readwrite: true, create: true, strict: true });
  try {
    configureReader(reader);
    reader.prepare("ATTACH ? AS img").run(targetPath);
    // The image is written once and fsynced as a whole at the end: no journal needed.
    reader.exec("PRAGMA img.journal_mode = OFF");
    reader.exec("PRAGMA img.synchronous = OFF");
    reader.exec(`PRAGMA img.application_id = ${SNAPSHOT_APPLICATION_ID}`);
    for (const sql of SNAPSHOT_SCHEMA_SQL) reader.exec(sql);

    reader.exec("BEGIN");
    // The first read of main fixes the point in time for the whole transaction.
    const state = reader.query("SELECT applied_index, applied_term, revision, conf_state FROM main.applied_state WHERE id = 1").get() as {
      applied_index: number;
      applied_term: number;
      revision: number;
      conf_state: string;
    } | null;
    assert(state !== null, "applied_state row is missing");
    const meta: ImageMeta = {
      index: state.applied_index,
      term: state.applied_term,
      revision: state.revision,
      confState: decodeConfState(state.conf_state),
      clusterId: options.clusterId,
    };
    reader
      .prepare(
        "INSERT INTO img.snapshot_meta (id, format_version, snap_index, snap_term, revision, conf_state, cluster_id) VALUES (1, ?, ?, ?, ?, ?, ?)",
      )
      .run(SNAPSHOT_FORMAT_VERSION, meta.index, meta.term, meta.revision, state.conf_state, meta.clusterId);
    const stats = await copyKvInSlices(reader, options.isClosed);
    reader.exec("COMMIT");
    reader.exec("DETACH img");
    return { meta, stats };
  } finally {
    closeDatabase(reader);
  }
}

async function copyKvInSlices(reader: Database, isClosed: () => boolean): Promise<CreateImageStats> {
  const columns = "key, value, create_revision, mod_revision, version";
  const copyFirst = reader.prepare(`INSERT INTO img.kv SELECT ${columns} FROM main.kv ORDER BY key LIMIT ?`);
  const copyAfter = reader.prepare(`INSERT INTO img.kv SELECT ${columns} FROM main.kv WHERE key > ? ORDER BY key LIMIT ?`);
  const lastCopied = reader.prepare("SELECT key FROM img.kv ORDER BY key DESC LIMIT 1");
  const stats: CreateImageStats = { rows: 0, slices: 0, maxPauseMs: 0, totalMs: 0 };
  let after: Uint8Array | undefined;
  let runStartMs = performance.now();
  for (;;) {
    const copied = after === undefined ? copyFirst.run(SNAPSHOT_SLICE_ROWS).changes : copyAfter.run(after, SNAPSHOT_SLICE_ROWS).changes;
    stats.rows += copied;
    stats.slices += 1;
    if (copied < SNAPSHOT_SLICE_ROWS) break;
    after = (lastCopied.get() as { key: Uint8Array }).key;
    const heldMs = performance.now() - runStartMs;
    if (heldMs >= SNAPSHOT_SLICE_BUDGET_MS) {
      stats.maxPauseMs = Math.max(stats.maxPauseMs, heldMs);
      await yieldToEventLoop();
      if (isClosed()) throw new Error("storage was closed while a snapshot was being created");
      runStartMs = performance.now();
    }
  }
  stats.maxPauseMs = Math.max(stats.maxPauseMs, performance.now() - runStartMs);
  return stats;
}

const SEAL_MAGIC = "dkvSEAL1";
const SEAL_BYTES = 8 + 8 + 32;
/** Bytes hashed per read while sealing or verifying. */
const SEAL_READ_BYTES = 4 * 1024 * 1024;

/** SHA-256 of the first `length` bytes of the file, read in bounded pieces. */
async function hashPrefix(fd: number, length: number, pause?: () => Promise<void>): Promise<Uint8Array> {
  const hasher = new Bun.CryptoHasher("sha256");
  for (let offset = 0; offset < length; offset += SEAL_READ_BYTES) {
    hasher.update(readExactly(fd, Math.min(SEAL_READ_BYTES, length - offset), offset));
    if (pause !== undefined) await pause();
  }
  return new Uint8Array(hasher.digest().buffer);
}

function hashPrefixSync(fd: number, length: number): Uint8Array {
  const hasher = new Bun.CryptoHasher("sha256");
  for (let offset = 0; offset < length; offset += SEAL_READ_BYTES) {
    hasher.update(readExactly(fd, Math.min(SEAL_READ_BYTES, length - offset), offset));
  }
  return new Uint8Array(hasher.digest().buffer);
}

async function sealImage(path: string, isClosed: () => boolean): Promise<void> {
  const length = statSync(path).size;
  const fd = openSync(path, "r");
  let digest: Uint8Array;
  try {
    digest = await hashPrefix(fd, length, async () => {
      await yieldToEventLoop();
      if (isClosed()) throw new Error("storage was closed while a snapshot was being created");
    });
  } finally {
    closeSync(fd);
  }
  const trailer = new Uint8Array(SEAL_BYTES);
  trailer.set(new TextEncoder().encode(SEAL_MAGIC), 0);
  new DataView(trailer.buffer).setBigUint64(8, BigInt(length), false);
  trailer.set(digest, 16);
  appendFileSync(path, trailer);
}

/** Throws unless the file ends with a seal matching its content (complete and unaltered). */
function verifySeal(path: string): void {
  const size = statSync(path).size;
  const refuse = (why: string): never => {
    throw new StorageError("snapshot_invalid", path, `${path} is damaged or incomplete: ${why}`);
  };
  if (size < SEAL_BYTES) refuse(`${size} bytes is too short for an image`);
  const fd = openSync(path, "r");
  try {
    const trailer = readExactly(fd, SEAL_BYTES, size - SEAL_BYTES);
    if (new TextDecoder().decode(trailer.subarray(0, 8)) !== SEAL_MAGIC) refuse("no seal at its end");
    const length = Number(new DataView(trailer.buffer).getBigUint64(8, false));
    if (length !== size - SEAL_BYTES) refuse(`seal covers ${length} bytes, file has ${size - SEAL_BYTES}`);
    const expected = Buffer.from(trailer.subarray(16));
    if (!expected.equals(hashPrefixSync(fd, length))) refuse("SHA-256 does not match its seal");
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks that `path` is a complete, unaltered image (its seal; this reads the
 * whole file) and returns its metadata: a torn, truncated or corrupted
 * transfer is refused here, before it can replace a node's state.
 */
export function readImageMeta(path: string): ImageMeta {
  const kind = classifyHeader(readHeader(path));
  if (kind !== "dkv_snapshot") {
    throw new StorageError("snapshot_invalid", path, `${path} is not a dkv snapshot image (${kind})`);
  }
  verifySeal(path);
  const image = new Database(path, { readonly: true, strict: true });
  try {
    const row = image.query("SELECT format_version, snap_index, snap_term, revision, conf_state, cluster_id FROM snapshot_meta WHERE id = 1").get() as {
      format_version: number;
      snap_index: number;
      snap_term: number;
      revision: number;
      conf_state: string;
      cluster_id: string;
    } | null;
    if (row === null) throw new StorageError("snapshot_invalid", path, `${path} has no snapshot_meta row`);
    if (row.format_version > SNAPSHOT_FORMAT_VERSION) {
      throw new StorageError(
        "snapshot_invalid",
        path,
        `${path} is snapshot format ${row.format_version}; this binary reads up to ${SNAPSHOT_FORMAT_VERSION}; upgrade dkv`,
      );
    }
    return {
      index: row.snap_index,
      term: row.snap_term,
      revision: row.revision,
      confState: decodeConfState(row.conf_state),
      clusterId: row.cluster_id,
    };
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw new StorageError("snapshot_invalid", path, `${path} is not a readable snapshot image: ${String(error)}`);
  } finally {
    closeDatabase(image);
  }
}

export function fileSize(path: string): number {
  return statSync(path).size;
}
