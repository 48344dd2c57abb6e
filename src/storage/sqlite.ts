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
/** Pages in the WAL before an automatic checkpoint (4 KiB pages: 16 MiB), give or take the spread below. */
const WAL_AUTOCHECKPOINT_PAGES = 4_096;
/**
 * Each connection picks its threshold at random within +-1,024 pages of the
 * above. Followers write the same log at the same pace, so with one threshold
 * they checkpointed in the same instant, and a checkpoint holds a member's
 * event loop 10-30 ms: both followers stalled at once held up every commit.
 */
const WAL_AUTOCHECKPOINT_SPREAD_PAGES = 1_024;

/** A checkpoint threshold in [base - spread, base + spread]. */
export function autocheckpointPages(random: () => number = Math.random): number {
  return WAL_AUTOCHECKPOINT_PAGES - WAL_AUTOCHECKPOINT_SPREAD_PAGES + Math.floor(random() * (2 * WAL_AUTOCHECKPOINT_SPREAD_PAGES + 1));
}
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

/**
 * Must run before the connection's first read: the node's connection holds
 * the database's lock for as long as it is open. Nothing else opens a running
 * node's database (the data dir's LOCK keeps other dkv processes out), and
 * without shared locks SQLite keeps the WAL index in the process's memory
 * instead of a -shm file: no fcntl lock calls per transaction. Measured on a
 * one-insert transaction here: 38 -> 29 us, half the system calls.
 */
export function lockExclusively(db: Database): void {
  db.exec("PRAGMA locking_mode = EXCLUSIVE");
}

/** Settings for the connection that writes a node's database (after lockExclusively). */
export function configureWriter(db: Database): void {
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.exec(`PRAGMA wal_autocheckpoint = ${autocheckpointPages()}`);
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

const SYNCHRONOUS_LEVEL: Record<SyncMode, number> = { normal: 1, full: 2 };

/**
 * BEGIN IMMEDIATE ... COMMIT with a per-transaction sync mode. The transaction
 * statements are prepared once; the PRAGMA is not: SQLite applies
 * `PRAGMA synchronous` while compiling it, so a prepared one takes effect when
 * prepared and re-running it later does nothing (measured: a prepared FULL
 * re-run after NORMAL left the connection at NORMAL).
 */
export class WriteTransactions {
  private readonly begin: Statement;
  private readonly commit: Statement;
  private readonly rollback: Statement;
  private readonly readSynchronous: Statement;
  private sync: SyncMode = "full";
  private failed: unknown = undefined;

  constructor(private readonly db: Database) {
    this.begin = db.prepare("BEGIN IMMEDIATE");
    this.commit = db.prepare("COMMIT");
    this.rollback = db.prepare("ROLLBACK");
    this.readSynchronous = db.prepare("PRAGMA synchronous");
    this.setSync("full");
  }

  /** The level SQLite reports for the connection right now (tests and assertions). */
  syncInEffect(): SyncMode {
    const level = (this.readSynchronous.get() as { synchronous: number }).synchronous;
    return level === SYNCHRONOUS_LEVEL.full ? "full" : level === SYNCHRONOUS_LEVEL.normal ? "normal" : (String(level) as SyncMode);
  }

  private setSync(sync: SyncMode): void {
    this.db.exec(sync === "full" ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    const inEffect = this.syncInEffect();
    if (inEffect !== sync) throw new Error(`PRAGMA synchronous did not take effect: wanted ${sync}, SQLite reports ${inEffect}`);
    this.sync = sync;
  }

  /** Runs fn in one transaction; on any error the transaction is rolled back and the error rethrown. */
  run<T>(sync: SyncMode, fn: () => T): T {
    if (this.failed !== undefined) {
      // After a failed COMMIT (e.g. fsync error) the on-disk state is unknown:
      // retrying could report durable what is not. The node must restart.
      throw new Error(`storage is unusable after a failed commit: ${String(this.failed)}`);
    }
    if (sync !== this.sync) this.setSync(sync);
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
