// One place that knows how dkv talks to SQLite: connection settings and write
// transactions with an explicit durability level per transaction.

import type { Database, Statement } from "bun:sqlite";

/**
 * "full": the commit fsyncs the WAL before returning (survives power loss).
 * "normal": the commit is in the WAL but not fsynced; it survives a process
 * crash, and becomes durable with the next "full" commit or checkpoint, because
 * the WAL is one sequential file whose frames are checksummed as a chain: after
 * a power loss SQLite keeps a prefix of the committed transactions, never a hole.
 */
export type SyncMode = "full" | "normal";

/** Busy waits only happen if someone else opens our files; never for long. */
const BUSY_TIMEOUT_MS = 5_000;
/** Pages in the WAL before an automatic checkpoint (4 KiB pages: 16 MiB). */
const WAL_AUTOCHECKPOINT_PAGES = 4_096;
/** Page cache per connection, in KiB (SQLite's negative cache_size unit). */
const CACHE_KIB = 16 * 1024;

/**
 * Closes for real. A plain close() leaves a connection with live prepared
 * statements open as a "zombie" until the garbage collector finalizes them:
 * it keeps its locks and may checkpoint later, under the feet of the next
 * process that opens the data dir. close(true) finalizes them first.
 */
export function closeDatabase(db: Database): void {
  db.close(true);
}

/** Applied first on every connection: waits out a short lock (e.g. WAL recovery by another opener). */
export function setBusyTimeout(db: Database): void {
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
}

/** Settings for the connection that writes a node's database. */
export function configureWriter(db: Database): void {
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.exec(`PRAGMA wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  db.exec(`PRAGMA cache_size = -${CACHE_KIB}`);
  // Memory-mapped I/O would count the whole database in the process's RSS and
  // turn an I/O error into a SIGBUS; plain reads keep memory bounded.
  db.exec("PRAGMA mmap_size = 0");
}

/** Settings for a read-only helper connection (snapshot creation). */
export function configureReader(db: Database): void {
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.exec("PRAGMA mmap_size = 0");
}

/** BEGIN IMMEDIATE ... COMMIT with a per-transaction sync mode; statements are prepared once. */
export class WriteTransactions {
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;
  private readonly syncFull: Statement;
  private readonly syncNormal: Statement;
  private sync: SyncMode = "full";
  private failed: unknown = undefined;

  constructor(private readonly db: Database) {
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
    this.syncFull = db.prepare("PRAGMA synchronous = FULL");
    this.syncNormal = db.prepare("PRAGMA synchronous = NORMAL");
    this.syncFull.run();
  }

  /** Runs fn in one transaction; on any error the transaction is rolled back and the error rethrown. */
  run<T>(sync: SyncMode, fn: () => T): T {
    if (this.failed !== undefined) {
      // After a failed COMMIT (e.g. fsync error) the on-disk state is unknown:
      // retrying could report durable what is not. The node must restart.
      throw new Error(`storage is unusable after a failed commit: ${String(this.failed)}`);
    }
    if (sync !== this.sync) {
      (sync === "full" ? this.syncFull : this.syncNormal).run();
      this.sync = sync;
    }
    this.begin.run();
    let result: T;
    try {
      result = fn();
    } catch (error) {
      if (this.db.inTransaction) this.rollback.run();
      throw error;
    }
    try {
      this.commit.run();
    } catch (error) {
      this.failed = error;
      if (this.db.inTransaction) this.rollback.run();
      throw error;
    }
    return result;
  }
}
