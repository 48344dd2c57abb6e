// A snapshot image is a small SQLite file: the kv table as of one applied index
// plus a snapshot_meta row (index, term, revision, membership, cluster id).
//
// It is written from a frozen view of the in-memory state (KvStore.frozen(),
// see key-space.ts), in key order, in slices that yield to the event loop
// between them: bun:sqlite is synchronous, and one long run of inserts would
// block every request while writes to the live state go on.
//
// SQLite has no page checksums, so a flipped byte in a value would go unnoticed.
// The image is therefore sealed: a 48-byte trailer (magic, length of the SQLite
// part, SHA-256 of it) is appended - SQLite ignores bytes past the size in its
// header - and the receiver checks it before the image may replace any state.

import { Database } from "bun:sqlite";
import { appendFileSync, closeSync, openSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import type { ConfState } from "../raft/types";
import { StorageError } from "./errors";
import { readExactly } from "./files";
import {
  SNAPSHOT_APPLICATION_ID,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_SCHEMA_SQL,
  classifyHeader,
  decodeConfState,
  encodeConfState,
  readHeader,
} from "./schema";
import type { KvState } from "./kv-store";
import { KeySpace, type OrderedKeys } from "./key-space";
import { closeDatabase } from "./sqlite";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Rows written between checks of the time budget. */
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

/** What an image is written from: a state, frozen or not, with its keys in order. */
export interface ImageSource extends Omit<KvState, "keys"> {
  keys: OrderedKeys;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Writes an image of `state` into `targetPath` (created; fsynced before returning). */
export async function writeImage(
  state: ImageSource,
  targetPath: string,
  options: { clusterId: string; isClosed: () => boolean },
): Promise<{ meta: ImageMeta; stats: CreateImageStats }> {
  const startedMs = performance.now();
  rmSync(targetPath, { force: true });
  try {
    const stats = await writeRows(state, targetPath, options);
    await sealImage(targetPath, options.isClosed);
    // Flushing tens of MB takes long: off the event loop (fs/promises runs it on a worker thread).
    const handle = await open(targetPath, "r+");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    stats.totalMs = performance.now() - startedMs;
    const meta: ImageMeta = { index: state.index, term: state.term, revision: state.revision, confState: state.confState, clusterId: options.clusterId };
    return { meta, stats };
  } catch (error) {
    rmSync(targetPath, { force: true });
    throw error;
  }
}

async function writeRows(state: ImageSource, targetPath: string, options: { clusterId: string; isClosed: () => boolean }): Promise<CreateImageStats> {
  const image = new Database(targetPath, { create: true, readwrite: true, strict: true });
  try {
    // The image is written once and fsynced as a whole at the end: no journal needed.
    image.exec("PRAGMA journal_mode = OFF");
    image.exec("PRAGMA synchronous = OFF");
    image.exec(`PRAGMA application_id = ${SNAPSHOT_APPLICATION_ID}`);
    for (const sql of SNAPSHOT_SCHEMA_SQL) image.exec(sql);
    image.exec("BEGIN");
    image
      .prepare("INSERT INTO snapshot_meta (id, format_version, snap_index, snap_term, revision, conf_state, cluster_id) VALUES (1, ?, ?, ?, ?, ?, ?)")
      .run(SNAPSHOT_FORMAT_VERSION, state.index, state.term, state.revision, encodeConfState(state.confState), options.clusterId);
    const insert = image.prepare("INSERT INTO kv (key, value, create_revision, mod_revision, version) VALUES (?, ?, ?, ?, ?)");
    const stats: CreateImageStats = { rows: 0, slices: 1, maxPauseMs: 0, totalMs: 0 };
    let runStartMs = performance.now();
    for (const kv of state.keys.values()) {
      insert.run(encoder.encode(kv.key), kv.value, kv.createRevision, kv.modRevision, kv.version);
      stats.rows += 1;
      if (stats.rows % SNAPSHOT_SLICE_ROWS !== 0) continue;
      const heldMs = performance.now() - runStartMs;
      if (heldMs < SNAPSHOT_SLICE_BUDGET_MS) continue;
      stats.maxPauseMs = Math.max(stats.maxPauseMs, heldMs);
      await yieldToEventLoop();
      if (options.isClosed()) throw new Error("storage was closed while a snapshot was being created");
      stats.slices += 1;
      runStartMs = performance.now();
    }
    image.exec("COMMIT");
    stats.maxPauseMs = Math.max(stats.maxPauseMs, performance.now() - runStartMs);
    return stats;
  } finally {
    closeDatabase(image);
  }
}

/**
 * Reads a whole image into memory: its metadata and its keys. Checks the seal
 * first (readImageMeta), so a damaged file is refused rather than loaded,
 * unless the caller has just checked it.
 */
export function loadImage(path: string, options: { sealChecked?: boolean } = {}): { meta: ImageMeta; state: KvState } {
  const meta = readImageMeta(path, options);
  return withImage(path, (image) => ({ meta, state: stateOf(meta, readKeyTable(image)) }));
}

/** Paces work that must not hold the event loop: resolves when it may go on, rejects when it must stop. */
export type Pause = () => Promise<void>;

export interface LoadImageStats {
  rows: number;
  /** Runs of rows between pauses. */
  slices: number;
}

/**
 * loadImage for a running member (a snapshot from the leader): the seal is
 * hashed and the rows are read in slices of at most `budgetMs` with `pause()`
 * between them, so requests and raft messages are served meanwhile (a
 * 300 MiB image held the event loop for 3-5 s in one piece). `checkMeta` may
 * refuse the image after its seal, before its rows are read.
 */
export async function loadImageInSlices(
  path: string,
  pause: Pause,
  checkMeta: (meta: ImageMeta) => void = () => {},
  budgetMs = SNAPSHOT_SLICE_BUDGET_MS,
): Promise<{ meta: ImageMeta; state: KvState; stats: LoadImageStats }> {
  checkHeader(path);
  await verifySealInSlices(path, pause);
  const meta = readMetaRow(path);
  checkMeta(meta);
  const image = openImage(path);
  try {
    const { keys, stats } = await readKeyTableInSlices(image, pause, budgetMs);
    return { meta, state: stateOf(meta, keys), stats };
  } catch (error) {
    throw asImageError(path, error);
  } finally {
    closeDatabase(image);
  }
}

function stateOf(meta: ImageMeta, keys: KeySpace): KvState {
  return { index: meta.index, term: meta.term, revision: meta.revision, confState: meta.confState, keys };
}

function openImage(path: string): Database {
  return new Database(path, { readonly: true, strict: true });
}

function withImage<T>(path: string, read: (image: Database) => T): T {
  const image = openImage(path);
  try {
    return read(image);
  } catch (error) {
    throw asImageError(path, error);
  } finally {
    closeDatabase(image);
  }
}

function asImageError(path: string, error: unknown): unknown {
  if (error instanceof StorageError) return error;
  return new StorageError("snapshot_invalid", path, `${path} is not a readable snapshot image: ${String(error)}`);
}

interface KvRow {
  key: Uint8Array;
  value: Uint8Array;
  create_revision: number;
  mod_revision: number;
  version: number;
}

function kvRows(db: Database): IterableIterator<KvRow> {
  return db.query("SELECT key, value, create_revision, mod_revision, version FROM kv").iterate() as IterableIterator<KvRow>;
}

function addRow(keys: KeySpace, row: KvRow): void {
  const key = decoder.decode(row.key);
  keys.set(key, { key, value: row.value, createRevision: row.create_revision, modRevision: row.mod_revision, version: row.version, lease: 0 });
}

/** Every row of a kv table (an image's, or a schema-1 database's). */
export function readKeyTable(db: Database): KeySpace {
  const keys = new KeySpace();
  for (const row of kvRows(db)) addRow(keys, row);
  return keys;
}

async function readKeyTableInSlices(db: Database, pause: Pause, budgetMs: number): Promise<{ keys: KeySpace; stats: LoadImageStats }> {
  const keys = new KeySpace();
  const stats: LoadImageStats = { rows: 0, slices: 1 };
  let runStartMs = performance.now();
  for (const row of kvRows(db)) {
    addRow(keys, row);
    stats.rows += 1;
    if (stats.rows % SNAPSHOT_SLICE_ROWS !== 0 || performance.now() - runStartMs < budgetMs) continue;
    await pause();
    stats.slices += 1;
    runStartMs = performance.now();
  }
  return { keys, stats };
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

/** The seal at the end of `path`: the length it covers and the digest it expects (throws if there is none). */
function readSeal(path: string, fd: number): { length: number; expected: Buffer } {
  const size = statSync(path).size;
  if (size < SEAL_BYTES) refuseDamaged(path, `${size} bytes is too short for an image`);
  const trailer = readExactly(fd, SEAL_BYTES, size - SEAL_BYTES);
  if (new TextDecoder().decode(trailer.subarray(0, 8)) !== SEAL_MAGIC) refuseDamaged(path, "no seal at its end");
  const length = Number(new DataView(trailer.buffer).getBigUint64(8, false));
  if (length !== size - SEAL_BYTES) refuseDamaged(path, `seal covers ${length} bytes, file has ${size - SEAL_BYTES}`);
  return { length, expected: Buffer.from(trailer.subarray(16)) };
}

function refuseDamaged(path: string, why: string): never {
  throw new StorageError("snapshot_invalid", path, `${path} is damaged or incomplete: ${why}`);
}

/** Throws unless the file ends with a seal matching its content (complete and unaltered). */
function verifySeal(path: string): void {
  const fd = openSync(path, "r");
  try {
    const { length, expected } = readSeal(path, fd);
    if (!expected.equals(hashPrefixSync(fd, length))) refuseDamaged(path, "SHA-256 does not match its seal");
  } finally {
    closeSync(fd);
  }
}

async function verifySealInSlices(path: string, pause: Pause): Promise<void> {
  const fd = openSync(path, "r");
  try {
    const { length, expected } = readSeal(path, fd);
    if (!expected.equals(await hashPrefix(fd, length, pause))) refuseDamaged(path, "SHA-256 does not match its seal");
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks that `path` is a complete, unaltered image (its seal; this reads the
 * whole file) and returns its metadata: a torn, truncated or corrupted
 * transfer is refused here, before it can replace a node's state.
 */
export function readImageMeta(path: string, options: { sealChecked?: boolean } = {}): ImageMeta {
  checkHeader(path);
  if (options.sealChecked !== true) verifySeal(path);
  return readMetaRow(path);
}

function checkHeader(path: string): void {
  const kind = classifyHeader(readHeader(path));
  if (kind !== "dkv_snapshot") {
    throw new StorageError("snapshot_invalid", path, `${path} is not a dkv snapshot image (${kind})`);
  }
}

function readMetaRow(path: string): ImageMeta {
  return withImage(path, (image) => {
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
  });
}

/** Rows of an image's kv table, apart from dkv's own records (keys that start with a zero byte). */
export function countImageClientKeys(path: string): number {
  return withImage(path, (image) => (image.query("SELECT count(*) AS n FROM kv WHERE key >= X'01'").get() as { n: number }).n);
}

export function fileSize(path: string): number {
  return statSync(path).size;
}
