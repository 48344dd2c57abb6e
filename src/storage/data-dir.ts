// Opening a node's data directory: refuse anything that is not ours (another
// program's files, a newer schema, another live dkv process, another cluster)
// with a one-line error naming the path, and never overwrite what we refuse.
//
// Layout of <data-dir>:
//   dkv.db (+ -wal)        raft log, hard state, applied index, meta (locked by the running node)
//   LOCK, LOCK.owner       exclusive lock (held for the process's life) + holder's pid
//   snap/                  snapshot images; snap/staging/ receives incoming ones

import { Database } from "bun:sqlite";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { StorageError, assert, describeCorruption } from "./errors";
import { fsyncDirectory, makeDirectoryDurably } from "./files";
import {
  DATA_APPLICATION_ID,
  DATA_SCHEMA_SQL,
  META_CLUSTER_ID,
  META_CREATED_AT,
  META_MEMBER_ID,
  META_SCHEMA_VERSION,
  SCHEMA_VERSION,
  classifyHeader,
  readHeader,
} from "./schema";
import { splitLogTableIntoSegments } from "./log-segments";
import { closeDatabase, configureWriter, lockExclusively, setBusyTimeout } from "./sqlite";

export interface DataDirPaths {
  dir: string;
  database: string;
  snapDir: string;
  stagingDir: string;
  lock: string;
  lockOwner: string;
}

export function dataDirPaths(dataDir: string): DataDirPaths {
  const dir = resolve(dataDir);
  const snapDir = join(dir, "snap");
  return {
    dir,
    database: join(dir, "dkv.db"),
    snapDir,
    stagingDir: join(snapDir, "staging"),
    lock: join(dir, "LOCK"),
    lockOwner: join(dir, "LOCK.owner"),
  };
}

/** Who this data dir belongs to; empty until first known. */
export interface Identity {
  clusterId: string;
  memberId: string;
}

export interface OpenDataDirOptions {
  /** Refuse the dir if it belongs to another cluster; recorded if the dir has none yet. */
  clusterId?: string;
  /** Refuse the dir if it belongs to another member; recorded if the dir has none yet. */
  memberId?: string;
}

export interface OpenedDataDir {
  paths: DataDirPaths;
  /** The writer connection (WAL, synchronous=FULL by default). */
  db: Database;
  identity: Identity;
  lock: DirLock;
}

/** Names a fresh dkv dir may contain before dkv.db exists (a crash during creation leaves them). */
const FRESH_DIR_NAMES = new Set([
  "LOCK",
  "LOCK-journal",
  "LOCK.owner",
  "snap",
  "dkv.db.creating",
  "dkv.db.creating-journal",
  "dkv.db.creating-wal",
  "dkv.db.creating-shm",
]);

export function openDataDir(dataDir: string, options: OpenDataDirOptions = {}): OpenedDataDir {
  const paths = dataDirPaths(dataDir);
  ensureDirectory(paths.dir);
  // Checked before the lock so a foreign directory does not even get a LOCK file.
  checkNotForeign(paths);
  const lock = DirLock.acquire(paths);
  let db: Database | undefined;
  try {
    if (!existsSync(paths.database)) {
      checkNotForeign(paths);
      createDatabase(paths);
    }
    db = openDatabase(paths);
    const identity = reconcileIdentity(db, paths.database, options);
    makeDirectoryDurably(paths.stagingDir);
    return { paths, db, identity, lock };
  } catch (error) {
    if (db) closeDatabase(db);
    lock.release();
    throw error;
  }
}

function ensureDirectory(dir: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) {
      throw new StorageError("not_a_directory", dir, `data dir ${dir} is not a directory`);
    }
    return;
  }
  try {
    makeDirectoryDurably(dir);
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    const reason = code === "EROFS" ? "read-only file system" : code === "EACCES" ? "permission denied" : code === "ENOSPC" ? "no space left on device" : String((error as Error)?.message ?? error);
    throw new StorageError("io", dir, `cannot create the data dir ${dir}: ${reason}`);
  }
}

function checkNotForeign(paths: DataDirPaths): void {
  if (existsSync(paths.database)) {
    checkDatabaseHeader(paths.database);
    return;
  }
  const foreign = readdirSync(paths.dir).filter((name) => !FRESH_DIR_NAMES.has(name));
  if (foreign.length > 0) {
    const shown = foreign.slice(0, 3).join(", ") + (foreign.length > 3 ? ", ..." : "");
    throw new StorageError(
      "not_dkv",
      paths.dir,
      `data dir ${paths.dir} is not a dkv data dir (no dkv.db, but it holds ${shown}); use an empty or new directory`,
    );
  }
}

function checkDatabaseHeader(path: string): void {
  const kind = classifyHeader(readHeader(path));
  if (kind === "dkv_data") return;
  const what =
    kind === "empty"
      ? "an empty file"
      : kind === "not_sqlite"
        ? "not an SQLite file"
        : kind === "dkv_snapshot"
          ? "a dkv snapshot image, not a node database"
          : "an SQLite database of another program";
  throw new StorageError("not_dkv", path, `${path} is not a dkv database (${what}); refusing to touch it`);
}

/** Builds the database under a temporary name and renames it: dkv.db exists only when complete. */
function createDatabase(paths: DataDirPaths): void {
  const temporary = `${paths.database}.creating`;
  rmSync(temporary, { force: true });
  for (const suffix of ["-journal", "-wal", "-shm"]) rmSync(temporary + suffix, { force: true });
  const db = new Database(temporary, { create: true, readwrite: true, strict: true });
  try {
    db.exec(`PRAGMA application_id = ${DATA_APPLICATION_ID}`);
    db.exec("PRAGMA synchronous = FULL");
    db.transaction(() => {
      for (const sql of DATA_SCHEMA_SQL) db.exec(sql);
      const insert = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
      insert.run(META_SCHEMA_VERSION, String(SCHEMA_VERSION));
      insert.run(META_CLUSTER_ID, "");
      insert.run(META_MEMBER_ID, "");
      insert.run(META_CREATED_AT, new Date().toISOString());
    })();
    // WAL is persistent in the file header; switching now means the rename
    // below publishes a database that is already in its final mode.
    db.exec("PRAGMA journal_mode = WAL");
  } finally {
    closeDatabase(db);
  }
  renameSync(temporary, paths.database);
  fsyncDirectory(paths.dir);
}

function openDatabase(paths: DataDirPaths): Database {
  checkDatabaseHeader(paths.database);
  const db = new Database(paths.database, { readwrite: true, create: false, strict: true });
  try {
    setBusyTimeout(db);
    lockExclusively(db);
    let version: number;
    try {
      const row = db.query("SELECT value FROM meta WHERE key = ?").get(META_SCHEMA_VERSION) as { value: string } | null;
      version = Number(row?.value);
    } catch (error) {
      if ((error as { code?: unknown }).code === "SQLITE_BUSY") {
        throw new StorageError(
          "locked",
          paths.database,
          `${paths.database} is open in another program (SQLite reports it locked); close that program and start dkv again`,
        );
      }
      const described = describeCorruption(error, paths.database);
      if (described instanceof StorageError) throw described;
      throw new StorageError("corrupt", paths.database, `${paths.database} is damaged or incomplete: ${String(error)}`);
    }
    if (!Number.isInteger(version) || version < 1) {
      throw new StorageError("corrupt", paths.database, `${paths.database} has no valid schema version in its meta table`);
    }
    if (version > SCHEMA_VERSION) {
      throw new StorageError(
        "newer_schema",
        paths.database,
        `${paths.database} was written by a newer dkv (schema ${version}; this binary knows up to ${SCHEMA_VERSION}); upgrade dkv`,
      );
    }
    configureWriter(db);
    if (version < SCHEMA_VERSION) migrate(db, version);
    return db;
  } catch (error) {
    closeDatabase(db);
    throw error;
  }
}

/**
 * Schema 1 -> 2 changes no table, only what two of them mean: schema 1 wrote
 * every applied key to `kv` (with `applied_state`), schema 2 keeps the keys in
 * memory and leaves there only what a schema-1 binary wrote, which a node
 * starts from while it is newer than its newest snapshot (see storage.ts).
 * The version is bumped so a schema-1 binary refuses the dir instead of
 * reading a table that no longer follows the log. Schema 2 -> 3 moves the
 * log's rows into segment tables (log-segments.ts), in the same transaction.
 */
function migrate(db: Database, from: number): void {
  assert(from === 1 || from === 2, `no migration from schema ${from}`);
  db.transaction(() => {
    splitLogTableIntoSegments(db);
    db.prepare("UPDATE meta SET value = ? WHERE key = ?").run(String(SCHEMA_VERSION), META_SCHEMA_VERSION);
  })();
}

function reconcileIdentity(db: Database, path: string, options: OpenDataDirOptions): Identity {
  const read = db.query("SELECT value FROM meta WHERE key = ?");
  const stored: Identity = {
    clusterId: (read.get(META_CLUSTER_ID) as { value: string } | null)?.value ?? "",
    memberId: (read.get(META_MEMBER_ID) as { value: string } | null)?.value ?? "",
  };
  const wanted: Identity = { clusterId: options.clusterId ?? "", memberId: options.memberId ?? "" };
  checkIdentity(path, "cluster", stored.clusterId, wanted.clusterId);
  checkIdentity(path, "member", stored.memberId, wanted.memberId);
  const next: Identity = {
    clusterId: stored.clusterId || wanted.clusterId,
    memberId: stored.memberId || wanted.memberId,
  };
  if (next.clusterId !== stored.clusterId || next.memberId !== stored.memberId) {
    const write = db.prepare("UPDATE meta SET value = ? WHERE key = ?");
    db.transaction(() => {
      write.run(next.clusterId, META_CLUSTER_ID);
      write.run(next.memberId, META_MEMBER_ID);
    })();
  }
  return next;
}

/** Throws unless `wanted` is empty, `stored` is empty, or they agree. */
export function checkIdentity(path: string, what: "cluster" | "member", stored: string, wanted: string): void {
  if (stored === "" || wanted === "" || stored === wanted) return;
  throw new StorageError(
    "identity_mismatch",
    path,
    `${path} belongs to ${what} ${JSON.stringify(stored)}, not ${JSON.stringify(wanted)}; ` +
      `use the data dir of that ${what} or a fresh --data-dir`,
  );
}

/**
 * An exclusive lock on <data-dir>/LOCK, taken through SQLite's own file locking
 * (POSIX advisory locks): the kernel drops it when the holder dies, even by
 * kill -9, so a stale lock can never block a restart, and a second opener in
 * the same or another process is refused at once. LOCK.owner only names the
 * holder's pid for the error message; it is never trusted for exclusion.
 */
export class DirLock {
  private constructor(
    private readonly connection: Database,
    readonly path: string,
  ) {}

  static acquire(paths: DataDirPaths): DirLock {
    const connection = new Database(paths.lock, { create: true, readwrite: true });
    try {
      connection.exec("PRAGMA busy_timeout = 0");
      // The open transaction holds the EXCLUSIVE lock until close() or death.
      connection.exec("BEGIN EXCLUSIVE");
    } catch (error) {
      closeDatabase(connection);
      if (/locked|busy/i.test(String(error))) {
        throw new StorageError(
          "locked",
          paths.dir,
          `data dir ${paths.dir} is in use by another dkv process (${describeOwner(paths.lockOwner)}); stop it or use another --data-dir`,
        );
      }
      throw new StorageError("not_dkv", paths.lock, `${paths.lock} is not a dkv lock file: ${String(error)}`);
    }
    writeFileSync(paths.lockOwner, `pid ${process.pid}\n`);
    return new DirLock(connection, paths.lock);
  }

  release(): void {
    closeDatabase(this.connection);
  }
}

function describeOwner(ownerPath: string): string {
  try {
    const text = readFileSync(ownerPath, "utf8").trim();
    return text.length > 0 ? text.slice(0, 64) : "pid unknown";
  } catch {
    return "pid unknown";
  }
}
