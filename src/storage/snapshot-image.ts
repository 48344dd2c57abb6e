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

import { Database } from "bun:sqlite";
import { rmSync, statSync } from "node:fs";
import type { ConfState } from "../raft/types";
import { StorageError, assert } from "./errors";
import { fsyncFile } from "./files";
import {
  SNAPSHOT_APPLICATION_ID,
  SNAPSHOT_FORMAT_VERSION,
  SNAPSHOT_SCHEMA_SQL,
  classifyHeader,
  decodeConfState,
  readHeader,
} from "./schema";
import { configureReader } from "./sqlite";

/** Rows copied per INSERT ... SELECT. */
export const SNAPSHOT_SLICE_ROWS = 1_024;
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
    reader.close();
    fsyncFile(targetPath);
    stats.totalMs = performance.now() - startedMs;
    return { meta, stats };
  } catch (error) {
    reader.close();
    rmSync(targetPath, { force: true });
    throw error;
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

/**
 * Checks that `path` is a complete, undamaged image and returns its metadata.
 * Reads the whole file (PRAGMA quick_check): a torn or truncated transfer is
 * refused here, before it can replace a node's state.
 */
export function readImageMeta(path: string): ImageMeta {
  const kind = classifyHeader(readHeader(path));
  if (kind !== "dkv_snapshot") {
    throw new StorageError("snapshot_invalid", path, `${path} is not a dkv snapshot image (${kind})`);
  }
  const image = new Database(path, { readonly: true, strict: true });
  try {
    const check = image.query("PRAGMA quick_check").all() as { quick_check: string }[];
    if (check.length !== 1 || check[0]!.quick_check !== "ok") {
      throw new StorageError("snapshot_invalid", path, `${path} is damaged: ${check.map((row) => row.quick_check).join("; ").slice(0, 300)}`);
    }
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
    image.close();
  }
}

export function fileSize(path: string): number {
  return statSync(path).size;
}
