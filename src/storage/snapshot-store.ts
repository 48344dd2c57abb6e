// Snapshot files under <data-dir>/snap/: which ones exist (the `snapshots`
// table is the truth; a file it does not name is debris from a crash and is
// deleted at open), serving an image in chunks by offset without loading it,
// and staging an incoming image chunk by chunk under snap/staging/.
// Installing a staged image touches the log and the KV too: see storage.ts.

import type { Database, Statement } from "bun:sqlite";
import { closeSync, existsSync, fdatasyncSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { ConfState, SnapshotChunk, SnapshotMeta } from "../raft/types";
import type { DataDirPaths } from "./data-dir";
import { StorageError, assert } from "./errors";
import { fsyncDirectory, fsyncFile, readExactly } from "./files";
import type { SnapshotSource } from "./log-store";
import { EMPTY_CONF_STATE, confStatesEqual, decodeConfState, encodeConfState } from "./schema";
import type { KvState } from "./kv-store";
import { type ImageMeta, type LoadImageStats, type Pause, loadImageInSlices } from "./snapshot-image";

/** Snapshots kept: the newest, and the one before it for transfers still in progress. */
export const SNAPSHOTS_KEPT = 2;
/** Largest chunk served at once, whatever the caller asks: bounds the sender's memory per chunk. */
export const MAX_SNAPSHOT_CHUNK_BYTES = 8 * 1024 * 1024;

const IMAGE_SUFFIX = ".snap";
const CREATING_PREFIX = "creating-";

interface SnapshotRecord {
  meta: SnapshotMeta;
  fileName: string;
}

export function imageFileName(index: number, term: number): string {
  return `${String(index).padStart(16, "0")}-${String(term).padStart(16, "0")}${IMAGE_SUFFIX}`;
}

function stagingFileName(meta: SnapshotMeta): string {
  return `${String(meta.index).padStart(16, "0")}-${String(meta.term).padStart(16, "0")}.part`;
}

export class SnapshotStore implements SnapshotSource {
  private readonly insertRecord: Statement;
  private readonly pruneRecords: Statement;
  /** Oldest first. */
  private records: SnapshotRecord[] = [];
  private creatingCount = 0;

  constructor(
    private readonly db: Database,
    private readonly paths: DataDirPaths,
  ) {
    this.insertRecord = db.prepare(
      "INSERT INTO snapshots (snap_index, snap_term, conf_state, size_bytes, file_name) VALUES (?, ?, ?, ?, ?)",
    );
    this.pruneRecords = db.prepare(
      "DELETE FROM snapshots WHERE snap_index NOT IN (SELECT snap_index FROM snapshots ORDER BY snap_index DESC LIMIT ?)",
    );
    this.reload();
  }

  reload(): void {
    const rows = this.db.query("SELECT snap_index, snap_term, conf_state, size_bytes, file_name FROM snapshots ORDER BY snap_index").all() as {
      snap_index: number;
      snap_term: number;
      conf_state: string;
      size_bytes: number;
      file_name: string;
    }[];
    this.records = rows.map((row) => ({
      meta: { index: row.snap_index, term: row.snap_term, confState: decodeConfState(row.conf_state), sizeBytes: row.size_bytes },
      fileName: row.file_name,
    }));
  }

  /** At open: every recorded image must be there; anything else in snap/ is debris from a crash. */
  checkFilesAndRemoveDebris(): void {
    const recorded = new Set(this.records.map((record) => record.fileName));
    for (const record of this.records) {
      const path = join(this.paths.snapDir, record.fileName);
      const size = existsSync(path) ? statSync(path).size : -1;
      if (size !== record.meta.sizeBytes) {
        throw new StorageError(
          "corrupt",
          path,
          `snapshot ${path} is ${size < 0 ? "missing" : `${size} bytes, expected ${record.meta.sizeBytes}`}; the data dir was modified or damaged`,
        );
      }
    }
    for (const name of readdirSync(this.paths.snapDir)) {
      if (name === "staging" || recorded.has(name)) continue;
      rmSync(join(this.paths.snapDir, name), { force: true, recursive: true });
    }
  }

  // ---- SnapshotSource (what the core reads through LogStore) ----

  newestMeta(): SnapshotMeta {
    const newest = this.records[this.records.length - 1];
    if (newest === undefined) return { index: 0, term: 0, confState: { ...EMPTY_CONF_STATE, voters: [], learners: [] }, sizeBytes: 0 };
    return copyMeta(newest.meta);
  }

  /** Path of the newest image; undefined when there is none. */
  newestImagePath(): string | undefined {
    const newest = this.records[this.records.length - 1];
    return newest === undefined ? undefined : join(this.paths.snapDir, newest.fileName);
  }

  /** Up to maxBytes of the image `meta` names, from offset. Reads only that range of the file. */
  readChunk(meta: SnapshotMeta, offset: number, maxBytes: number): { data: Uint8Array; done: boolean } {
    const record = this.find(meta);
    const size = record.meta.sizeBytes;
    assert(Number.isInteger(offset) && offset >= 0 && offset <= size, `snapshot chunk offset ${offset} is outside the ${size}-byte image`);
    assert(maxBytes >= 1, `snapshot chunk of ${maxBytes} bytes asked`);
    const length = Math.min(maxBytes, MAX_SNAPSHOT_CHUNK_BYTES, size - offset);
    const fd = openSync(join(this.paths.snapDir, record.fileName), "r");
    try {
      return { data: readExactly(fd, length, offset), done: offset + length === size };
    } finally {
      closeSync(fd);
    }
  }

  private find(meta: SnapshotMeta): SnapshotRecord {
    const record = this.records.find((r) => r.meta.index === meta.index && r.meta.term === meta.term);
    if (record === undefined) {
      const newest = this.newestMeta();
      throw new StorageError(
        "snapshot_missing",
        this.paths.snapDir,
        `snapshot ${meta.index}/${meta.term} is no longer kept in ${this.paths.snapDir} (newest is ${newest.index}/${newest.term}); restart the transfer`,
      );
    }
    return record;
  }

  /** A fresh path for an image being created (debris if we crash before recording it). */
  creatingPath(): string {
    this.creatingCount += 1;
    return join(this.paths.snapDir, `${CREATING_PREFIX}${process.pid}-${this.creatingCount}.tmp`);
  }

  /** Moves a finished image to its final name (durably); it is debris until recorded. */
  publish(fromPath: string, meta: SnapshotMeta): string {
    const fileName = imageFileName(meta.index, meta.term);
    renameSync(fromPath, join(this.paths.snapDir, fileName));
    fsyncDirectory(this.paths.snapDir);
    return fileName;
  }

  imagePath(fileName: string): string {
    return join(this.paths.snapDir, fileName);
  }

  /** Inside a write transaction: record an image and forget all but the newest SNAPSHOTS_KEPT. */
  recordInTransaction(meta: SnapshotMeta, fileName: string): void {
    assert(this.db.inTransaction, "recordInTransaction outside a transaction");
    const newest = this.newestMeta();
    assert(meta.index > newest.index, `snapshot ${meta.index} is not newer than the kept ${newest.index}`);
    this.insertRecord.run(meta.index, meta.term, encodeConfState(meta.confState), meta.sizeBytes, fileName);
    this.pruneRecords.run(SNAPSHOTS_KEPT);
  }

  /** After the recording transaction committed: reload and delete the files no longer recorded. */
  afterRecordCommitted(): void {
    const before = this.records.map((record) => record.fileName);
    this.reload();
    const kept = new Set(this.records.map((record) => record.fileName));
    for (const name of before) if (!kept.has(name)) rmSync(join(this.paths.snapDir, name), { force: true });
  }

  // ---- Receiving side ----

  /**
   * Writes one chunk of an incoming image to the staging file and fsyncs it.
   * Offset 0 starts a new image (discarding any other staged one); a chunk
   * repeated or overlapping is rewritten in place. Returns false, writing
   * nothing, if the chunk does not continue what is staged (a gap: the sender
   * must restart at offset 0 or at the staged size).
   */
  writeChunk(chunk: SnapshotChunk): boolean {
    const meta = chunk.meta;
    assert(Number.isInteger(chunk.offset) && chunk.offset >= 0, `snapshot chunk offset ${chunk.offset} is invalid`);
    assert(
      chunk.offset + chunk.data.byteLength <= meta.sizeBytes,
      `snapshot chunk [${chunk.offset}, ${chunk.offset + chunk.data.byteLength}) exceeds the image size ${meta.sizeBytes}`,
    );
    const path = join(this.paths.stagingDir, stagingFileName(meta));
    if (chunk.offset === 0) {
      this.clearStaging();
    } else if (!existsSync(path) || statSync(path).size < chunk.offset) {
      return false;
    }
    const fd = openSync(path, chunk.offset === 0 ? "w" : "r+");
    try {
      let written = 0;
      while (written < chunk.data.byteLength) {
        written += writeSync(fd, chunk.data, written, chunk.data.byteLength - written, chunk.offset + written);
      }
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (chunk.offset === 0) fsyncDirectory(this.paths.stagingDir);
    return true;
  }

  /** Bytes staged for `meta` so far (0 when none). */
  stagedBytes(meta: SnapshotMeta): number {
    const path = join(this.paths.stagingDir, stagingFileName(meta));
    return existsSync(path) ? statSync(path).size : 0;
  }

  /**
   * The staged image of `meta`, checked (complete, undamaged, the same index,
   * term, membership and cluster) and loaded into memory in slices that yield
   * to the event loop (see loadImageInSlices). The file stays staged;
   * publish() it once the install is sure.
   */
  async loadStagedInSlices(meta: SnapshotMeta, clusterId: string, pause: Pause, budgetMs?: number): Promise<{ path: string; state: KvState; stats: LoadImageStats }> {
    const path = this.completeStagedPath(meta);
    const { state, stats } = await loadImageInSlices(path, pause, (image) => checkAnnounced(path, image, meta, clusterId), budgetMs);
    return { path, state, stats };
  }

  /** The staged image of `meta`, fsynced, if all of it has arrived. */
  private completeStagedPath(meta: SnapshotMeta): string {
    const path = join(this.paths.stagingDir, stagingFileName(meta));
    const staged = existsSync(path) ? statSync(path).size : -1;
    if (staged !== meta.sizeBytes) {
      throw new StorageError(
        "snapshot_invalid",
        path,
        `snapshot ${meta.index}/${meta.term} is not fully staged at ${path} (${staged < 0 ? "no file" : `${staged} of ${meta.sizeBytes} bytes`})`,
      );
    }
    fsyncFile(path);
    return path;
  }

  clearStaging(): void {
    for (const name of readdirSync(this.paths.stagingDir)) rmSync(join(this.paths.stagingDir, name), { force: true, recursive: true });
  }
}

/** Refuses an image that is not the snapshot the leader announced, or comes from another cluster. */
function checkAnnounced(path: string, image: ImageMeta, meta: SnapshotMeta, clusterId: string): void {
  if (image.index !== meta.index || image.term !== meta.term || !confStatesEqual(image.confState, meta.confState)) {
    throw new StorageError(
      "snapshot_invalid",
      path,
      `${path} holds snapshot ${image.index}/${image.term} ${encodeConfState(image.confState)}, not the announced ${meta.index}/${meta.term} ${encodeConfState(meta.confState)}`,
    );
  }
  if (image.clusterId !== "" && clusterId !== "" && image.clusterId !== clusterId) {
    throw new StorageError("snapshot_invalid", path, `${path} comes from cluster ${JSON.stringify(image.clusterId)}, not ${JSON.stringify(clusterId)}`);
  }
}

function copyMeta(meta: SnapshotMeta): SnapshotMeta {
  const confState: ConfState = { voters: [...meta.confState.voters], learners: [...meta.confState.learners] };
  return { index: meta.index, term: meta.term, confState, sizeBytes: meta.sizeBytes };
}
