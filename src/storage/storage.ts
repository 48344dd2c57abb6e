// A node's whole durable state behind one object: the raft log (LogStore, which
// the core reads as its LogStorage), the snapshots (SnapshotStore) and the KV
// state machine (KvStore, in memory; see kv-store.ts), in ONE SQLite database
// under --data-dir plus snapshot images in snap/.
//
// Where a node starts: from its newest snapshot image, or, when none is newer,
// from applied_state + kv: the membership a new cluster was bootstrapped with
// (index 0), or the keys a schema-1 binary wrote there (it kept every applied
// key in that table). The core then hands out the committed entries after that
// index again. The first snapshot recorded empties the table for good.
//
// Why one database file and one writer connection rather than several: a
// snapshot install replaces the log's start and records the image in one
// transaction. Per Ready there is one fsync for "persist" (log + hard state:
// FULL, or NORMAL plus syncLog()'s fdatasync of the WAL off the event loop).

import { closeSync, fdatasync, openSync, rmSync } from "node:fs";
import type { ConfState, Entry, Ready, SnapshotChunk, SnapshotMeta } from "../raft/types";
import { type DataDirPaths, type Identity, type OpenDataDirOptions, type OpenedDataDir, checkIdentity, dataDirPaths, openDataDir } from "./data-dir";
import { StorageError, assert, describeCorruption } from "./errors";
import { fsyncDirectory } from "./files";
import { type ApplyResult, type KvState, KvStore } from "./kv-store";
import { LogStore } from "./log-store";
import { META_CLUSTER_ID, META_MEMBER_ID, decodeConfState } from "./schema";
import type { Database } from "bun:sqlite";
import { type CreateImageStats, type LoadImageStats, fileSize, loadImage, readKeyTable, writeImage } from "./snapshot-image";
import { SnapshotStore } from "./snapshot-store";
import { WriteTransactions, closeDatabase } from "./sqlite";

export type StorageOptions = OpenDataDirOptions;

/**
 * The parts of a Ready that must be durable before its messages are sent (a
 * whole Ready may be passed). Ready.confState is deliberately NOT taken here:
 * it belongs with the applied index, so pass it to applyCommitted (step 3).
 */
export type PersistReadyInput = Pick<Ready, "hardState" | "entries" | "snapshotChunks" | "snapshot"> & {
  /** Membership of a brand-new cluster, written with its first hard state (bootstrap only). */
  bootstrapConfState?: ConfState;
  /** Ready.mustSync: false lets a commit-index-only write skip the fsync. Default true. */
  mustSync?: boolean;
  /**
   * Commit without waiting for the disk and leave the fsync to syncLog(), so
   * the event loop runs while the disk works. Only for entries and hard
   * state: a snapshot install is always synced before this returns.
   */
  deferSync?: boolean;
};

/** A snapshot from the leader, staged, checked and loaded into memory by prepareSnapshot(); persistReady() installs it. */
export interface PreparedSnapshot {
  readonly meta: SnapshotMeta;
  readonly stagedPath: string;
  readonly state: KvState;
  readonly stats: LoadImageStats;
  readonly snapshotChunksRejected: number;
}

export interface PersistReadyResult {
  /** Chunks not written because they did not continue the staged image (the sender must restart it). */
  snapshotChunksRejected: number;
  /** With deferSync: this write is not durable until syncLog() resolves; nothing of the Ready may go out before. */
  syncPending: boolean;
}

/** Opens (creating if needed) the data dir; throws StorageError with a one-line message when refused. */
export function openStorage(dataDir: string, options: StorageOptions = {}): Storage {
  let opened: OpenedDataDir;
  try {
    opened = openDataDir(dataDir, options);
  } catch (error) {
    throw describeCorruption(error, dataDirPaths(dataDir).database);
  }
  try {
    return new Storage(opened.paths, opened.db, opened.identity, () => opened.lock.release());
  } catch (error) {
    closeDatabase(opened.db);
    opened.lock.release();
    throw describeCorruption(error, opened.paths.database);
  }
}

export class Storage {
  readonly log: LogStore;
  readonly kv: KvStore;
  readonly snapshots: SnapshotStore;
  private readonly transactions: WriteTransactions;
  private identityValue: Identity;
  private closed = false;
  private syncFailure: StorageError | undefined = undefined;
  private creating: Promise<SnapshotMeta> | undefined = undefined;
  private walFd: number | undefined = undefined;
  private syncsInFlight = 0;
  /** applied_state + kv still hold what a schema-1 binary wrote (emptied with the first snapshot recorded). */
  private tableHoldsState: boolean;
  /** Figures of the last snapshot created here (for benchmarks and logs). */
  lastSnapshotStats: CreateImageStats | undefined = undefined;

  constructor(
    readonly paths: DataDirPaths,
    private readonly db: Database,
    identity: Identity,
    private readonly releaseLock: () => void,
  ) {
    this.identityValue = identity;
    this.transactions = new WriteTransactions(db);
    this.snapshots = new SnapshotStore(db, paths);
    this.snapshots.checkFilesAndRemoveDebris();
    const start = this.startingState();
    this.tableHoldsState = start.fromTable && start.state.index > 0;
    this.kv = new KvStore(start.state);
    this.log = new LogStore(db, this.transactions, this.snapshots, () => this.kv.confState());
    this.checkOpenInvariants();
  }

  /** The newest snapshot image, or applied_state + kv when they are newer (a new cluster, or a schema-1 dir). */
  private startingState(): { state: KvState; fromTable: boolean } {
    const row = this.db.query("SELECT applied_index, applied_term, revision, conf_state FROM applied_state WHERE id = 1").get() as {
      applied_index: number;
      applied_term: number;
      revision: number;
      conf_state: string;
    } | null;
    assert(row !== null, `${this.paths.database}: applied_state row is missing`);
    const newest = this.snapshots.newestMeta();
    if (newest.index > 0 && newest.index >= row.applied_index) {
      const path = this.snapshots.newestImagePath()!;
      const { meta, state } = loadImage(path);
      assert(meta.index === newest.index && meta.term === newest.term, `${path} holds ${meta.index}/${meta.term}, recorded as ${newest.index}/${newest.term}`);
      return { state, fromTable: false };
    }
    const keys = readKeyTable(this.db);
    const state = { index: row.applied_index, term: row.applied_term, revision: row.revision, confState: decodeConfState(row.conf_state), keys };
    return { state, fromTable: true };
  }

  /** With a snapshot record: what a schema-1 binary left in the table is older now, and its space is given back. */
  private emptyTableInTransaction(): void {
    if (!this.tableHoldsState) return;
    this.db.exec("DELETE FROM kv");
    this.db.exec("UPDATE applied_state SET applied_index = 0, applied_term = 0, revision = 0 WHERE id = 1");
  }

  private checkOpenInvariants(): void {
    const where = this.paths.database;
    const applied = this.kv.appliedIndex();
    const hard = this.log.hardState();
    const compacted = this.log.compacted().index;
    const snapshot = this.snapshots.newestMeta().index;
    assert(applied <= hard.commit, `${where}: applied index ${applied} is beyond the commit index ${hard.commit}`);
    assert(compacted <= applied, `${where}: log compacted through ${compacted} but only ${applied} applied`);
    assert(snapshot <= applied, `${where}: snapshot at ${snapshot} is beyond the applied index ${applied}`);
    assert(compacted <= snapshot, `${where}: log compacted through ${compacted} beyond the newest snapshot at ${snapshot}`);
  }

  identity(): Identity {
    return { ...this.identityValue };
  }

  /** Records the cluster/member id once known (e.g. after joining); refuses to change a recorded one. */
  setIdentity(next: Partial<Identity>): void {
    this.assertOpen();
    const clusterId = next.clusterId ?? "";
    const memberId = next.memberId ?? "";
    checkIdentity(this.paths.database, "cluster", this.identityValue.clusterId, clusterId);
    checkIdentity(this.paths.database, "member", this.identityValue.memberId, memberId);
    const merged: Identity = {
      clusterId: this.identityValue.clusterId || clusterId,
      memberId: this.identityValue.memberId || memberId,
    };
    const write = this.db.prepare("UPDATE meta SET value = ? WHERE key = ?");
    this.transactions.run("full", () => {
      write.run(merged.clusterId, META_CLUSTER_ID);
      write.run(merged.memberId, META_MEMBER_ID);
    });
    this.identityValue = merged;
  }

  /**
   * Step 1 of a Ready: stage snapshot chunks, install a completed snapshot,
   * then append entries + hard state (one transaction, one fsync). Everything
   * is durable when this returns (with deferSync: when syncLog() resolves);
   * only then may the Ready's messages go out.
   */
  persistReady(ready: PersistReadyInput, prepared?: PreparedSnapshot): PersistReadyResult {
    this.assertOpen();
    let snapshotChunksRejected = 0;
    if (ready.snapshot !== undefined) {
      assert(prepared !== undefined, `a Ready that installs snapshot ${ready.snapshot.index}/${ready.snapshot.term} needs prepareSnapshot() first`);
      snapshotChunksRejected = prepared.snapshotChunksRejected; // its chunks were staged by prepareSnapshot
      this.installSnapshot(ready.snapshot, prepared);
    } else {
      assert(prepared === undefined, "a prepared snapshot passed with a Ready that installs none");
      for (const chunk of ready.snapshotChunks) if (!this.snapshots.writeChunk(chunk)) snapshotChunksRejected += 1;
    }
    const needsSync = !(ready.mustSync === false && ready.entries.length === 0 && ready.bootstrapConfState === undefined);
    const defer = needsSync && ready.deferSync === true && ready.snapshot === undefined && ready.snapshotChunks.length === 0;
    const persist: { hardState?: Ready["hardState"]; entries: readonly Entry[]; confState?: ConfState; sync?: "full" | "normal" } = {
      entries: ready.entries,
      // NORMAL commits into the WAL without an fsync; syncLog() then makes it durable.
      sync: needsSync && !defer ? "full" : "normal",
    };
    if (ready.hardState !== undefined) persist.hardState = ready.hardState;
    if (ready.bootstrapConfState !== undefined) {
      assert(this.kv.appliedIndex() === 0, `bootstrap membership given to a node that applied up to ${this.kv.appliedIndex()}`);
      persist.confState = ready.bootstrapConfState;
    }
    const wrote = this.log.persist(persist);
    if (ready.bootstrapConfState !== undefined) this.kv.setBootstrapConf(ready.bootstrapConfState);
    return { snapshotChunksRejected, syncPending: defer && wrote };
  }

  /**
   * Makes every write committed so far durable: an fdatasync of the WAL file
   * (where every commit lands in WAL mode) on Bun's I/O thread pool, so the
   * event loop keeps serving while the disk works. SQLite's own checkpoints
   * at NORMAL sync the WAL before copying it into the database file, so
   * syncing the WAL alone is enough.
   */
  syncLog(): Promise<void> {
    this.assertOpen();
    // One descriptor for as long as our connection is open: SQLite keeps the
    // same WAL file (it truncates or rewinds it, and deletes it only when the
    // last connection closes). Opening it per call cost ~2% of a follower's CPU.
    this.walFd ??= openSync(`${this.paths.database}-wal`, "r");
    const fd = this.walFd;
    this.syncsInFlight += 1;
    return new Promise<void>((resolve, reject) => {
      fdatasync(fd, (error) => {
        this.syncsInFlight -= 1;
        if (this.closed) this.closeWalFdWhenIdle();
        if (error) {
          // What reached the disk is unknown now (the kernel may have dropped the dirty pages): refuse every later write.
          this.syncFailure = new StorageError(
            "io",
            this.paths.dir,
            `fsync of the write-ahead log in ${this.paths.dir} failed (${error.message}); check the disk (dmesg), then restart the member: it resumes from what reached the disk`,
          );
          reject(this.syncFailure);
        } else {
          resolve();
        }
      });
    });
  }

  /** Closes the WAL descriptor once no fdatasync on the I/O pool uses it (its number could be reused under one). */
  private closeWalFdWhenIdle(): void {
    if (this.syncsInFlight > 0 || this.walFd === undefined) return;
    closeSync(this.walFd);
    this.walFd = undefined;
  }

  /** Step 3 of a Ready: apply committed entries and the membership after them (in memory; see kv-store.ts). */
  applyCommitted(entries: readonly Entry[], confState?: ConfState): ApplyResult[] {
    this.assertOpen();
    return this.kv.apply(entries, confState);
  }

  /** Stages one incoming chunk (fsynced); false if it does not continue the staged image. */
  writeSnapshotChunk(chunk: SnapshotChunk): boolean {
    this.assertOpen();
    return this.snapshots.writeChunk(chunk);
  }

  /**
   * Replaces the KV state with the image of `meta` that prepareSnapshot()
   * checked and loaded (the driver calls this through persistReady). One transaction
   * records the image and discards the log (kept after the snapshot only if
   * it holds the snapshot's entry): a crash before its commit leaves the old
   * state, after it the node starts from the new image.
   */
  installSnapshot(meta: SnapshotMeta, prepared: PreparedSnapshot): void {
    this.assertOpen();
    const applied = this.kv.appliedIndex();
    assert(meta.index > applied, `snapshot ${meta.index}/${meta.term} is not newer than the applied index ${applied}`);
    assert(prepared.meta.index === meta.index && prepared.meta.term === meta.term, `prepared snapshot ${prepared.meta.index}/${prepared.meta.term} installed as ${meta.index}/${meta.term}`);
    const fileName = this.snapshots.publish(prepared.stagedPath, meta);
    fsyncDirectory(this.paths.stagingDir);
    const imagePath = this.snapshots.imagePath(fileName);
    try {
      this.transactions.run("full", () => {
        this.log.discardForSnapshotInTransaction(meta);
        this.snapshots.recordInTransaction(meta, fileName);
        this.emptyTableInTransaction();
      });
    } catch (error) {
      rmSync(imagePath, { force: true });
      throw error;
    }
    this.tableHoldsState = false;
    this.log.reload();
    this.kv.replace({ ...prepared.state, index: meta.index, term: meta.term, confState: meta.confState });
    this.snapshots.afterRecordCommitted();
    this.snapshots.clearStaging();
  }

  /**
   * The slow part of installing a snapshot from the leader, done while the
   * event loop keeps serving: stages the Ready's last chunks, checks the
   * image's seal and metadata and loads its keys, a slice at a time. Nothing
   * changes until persistReady(ready, prepared) installs the result; a
   * failure here leaves the state as it was.
   */
  async prepareSnapshot(chunks: readonly SnapshotChunk[], meta: SnapshotMeta, budgetMs?: number): Promise<PreparedSnapshot> {
    this.assertOpen();
    const applied = this.kv.appliedIndex();
    assert(meta.index > applied, `snapshot ${meta.index}/${meta.term} is not newer than the applied index ${applied}`);
    let snapshotChunksRejected = 0;
    for (const chunk of chunks) if (!this.snapshots.writeChunk(chunk)) snapshotChunksRejected += 1;
    const pause = async (): Promise<void> => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.closed) throw new Error("storage was closed while a snapshot was being installed");
    };
    const { path, state, stats } = await this.snapshots.loadStagedInSlices(meta, this.identityValue.clusterId, pause, budgetMs);
    return { meta, stagedPath: path, state, stats, snapshotChunksRejected };
  }

  /**
   * Writes an image of the state at the current applied index to snap/ and
   * records it (keeping SNAPSHOTS_KEPT); writes continue meanwhile. Returns the
   * newest snapshot unchanged if nothing was applied since. Does not compact:
   * call compact() with an index at most the returned one.
   */
  createSnapshot(): Promise<SnapshotMeta> {
    this.assertOpen();
    this.creating ??= this.createSnapshotNow().finally(() => {
      this.creating = undefined;
    });
    return this.creating;
  }

  private async createSnapshotNow(): Promise<SnapshotMeta> {
    const newest = this.snapshots.newestMeta();
    const applied = this.kv.appliedIndex();
    assert(applied > 0, "cannot snapshot: nothing has been applied yet");
    if (applied === newest.index) return newest;
    const temporary = this.snapshots.creatingPath();
    const frozen = this.kv.frozen();
    let written: Awaited<ReturnType<typeof writeImage>>;
    try {
      written = await writeImage(frozen, temporary, { clusterId: this.identityValue.clusterId, isClosed: () => this.closed });
    } finally {
      frozen.keys.release();
    }
    const { meta: image, stats } = written;
    const newestNow = this.snapshots.newestMeta();
    if (this.closed || image.index <= newestNow.index) {
      // Closed meanwhile, or an installed snapshot overtook this one.
      rmSync(temporary, { force: true });
      this.assertOpen();
      return newestNow;
    }
    const logTerm = this.log.term(image.index);
    assert(
      logTerm === undefined || logTerm === image.term,
      `snapshot at ${image.index} has applied term ${image.term} but the log holds term ${logTerm} there`,
    );
    const meta: SnapshotMeta = { index: image.index, term: image.term, confState: image.confState, sizeBytes: fileSize(temporary) };
    const fileName = this.snapshots.publish(temporary, meta);
    // The record may only be trusted (and older images deleted) once durable;
    // its fsync runs off the event loop like the log's.
    this.transactions.run("normal", () => {
      this.snapshots.recordInTransaction(meta, fileName);
      this.log.commitAtLeastInTransaction(meta.index);
      this.emptyTableInTransaction();
    });
    this.tableHoldsState = false;
    await this.syncLog();
    this.snapshots.afterRecordCommitted();
    this.lastSnapshotStats = stats;
    return meta;
  }

  /** Deletes log entries up to index (at most the newest snapshot's index). */
  compact(index: number): void {
    this.assertOpen();
    this.log.compact(index);
  }

  /** Closes the database and releases the data dir's lock. A snapshot being created is abandoned. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeDatabase(this.db);
    this.closeWalFdWhenIdle();
    this.releaseLock();
  }

  private assertOpen(): void {
    if (this.closed) throw new StorageError("corrupt", this.paths.dir, `storage at ${this.paths.dir} is closed`);
    if (this.syncFailure) throw this.syncFailure;
  }
}
