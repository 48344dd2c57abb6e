// Seeding a NEW member's data dir from a backup image (`dkv snapshot restore`,
// like etcdutl's): the backup's keys with their revisions, a new membership
// and a new cluster id, as if the member had installed a snapshot of the new
// cluster at index R = backup index + 1 and compacted its log through it.
//
// Every member of the new cluster restores the same backup with the same
// options except memberId, and so holds the same state at R: the raft core
// sees a log that starts after R (term T = the backup's), commit = applied = R,
// all new members as voters, and simply elects a leader. The restore's own
// writes (the new member records) get revision R, above every backup key's, so
// revisions keep growing.
//
// The dir is built beside the target under a temporary name and renamed into
// place only when complete and re-opened successfully: a crash midway never
// leaves a half-restored dir that `dkv serve` could mistake for a fresh one
// (and bootstrap an empty cluster in).

import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { ConfState, SnapshotMeta } from "../raft/types";
import { openDataDir } from "./data-dir";
import { StorageError, StorageInvariantError } from "./errors";
import { fsyncDirectory, makeDirectoryDurably } from "./files";
import type { KvState } from "./kv-store";
import { encodeConfState } from "./schema";
import { type ImageMeta, countImageClientKeys, fileSize, loadImage, readImageMeta, writeImage } from "./snapshot-image";
import { imageFileName } from "./snapshot-store";
import { closeDatabase } from "./sqlite";
import { openStorage } from "./storage";

export interface RestoreOptions {
  /** Id of the new cluster (the same on every restored member). */
  clusterId: string;
  /** This member's id; must be one of voters. */
  memberId: string;
  /** Every member of the new cluster, all voters. */
  voters: readonly string[];
  /** Keys of the backup under this prefix are dropped (the old cluster's member records). */
  dropPrefix: string;
  /** Rows written in their place (the new member records), at revision R. */
  records: readonly { key: string; value: Uint8Array }[];
}

export interface RestoreResult {
  /** What the backup held. */
  backup: ImageMeta;
  /** The snapshot the restored dir starts from (index R, the new membership). */
  snapshot: SnapshotMeta;
  /** Rows copied from the backup (its client keys). */
  keysCopied: number;
  dataDir: string;
}

/** Verifies the backup, refuses a non-empty target, and writes the restored data dir. */
export async function restoreDataDir(backupPath: string, dataDir: string, options: RestoreOptions): Promise<RestoreResult> {
  const target = resolve(dataDir);
  checkOptions(options);
  checkTargetEmpty(target);
  const backup = readBackup(backupPath);
  const work = join(dirname(target), `.${basename(target)}.restoring-${process.pid}`);
  makeDirectoryDurably(dirname(target));
  rmSync(work, { recursive: true, force: true });
  try {
    const { snapshot, keysCopied } = await buildDataDir(work, backupPath, backup, options);
    verifyBuilt(work, options, snapshot);
    fsyncDirectory(work);
    // rename(2) replaces an empty directory atomically; a non-empty one makes it fail.
    checkTargetEmpty(target);
    renameSync(work, target);
    fsyncDirectory(dirname(target));
    return { backup, snapshot, keysCopied, dataDir: target };
  } catch (error) {
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}

export interface BackupStatus {
  meta: ImageMeta;
  /** Keys clients wrote (dkv's own member and lease records not counted). */
  clientKeys: number;
  bytes: number;
}

/** What a backup holds, after the same checks restore makes (its seal, its header, its index): `dkv snapshot status`. */
export function inspectBackup(path: string): BackupStatus {
  const meta = readBackup(path);
  return { meta, clientKeys: countImageClientKeys(path), bytes: fileSize(path) };
}

/** The caller's mistakes (the CLI validates its flags first). */
function checkOptions(options: RestoreOptions): void {
  const refuse = (why: string): never => {
    throw new StorageInvariantError(`restore: ${why}`);
  };
  if (options.clusterId === "") refuse("the cluster id is empty");
  if (options.voters.length === 0) refuse("the new cluster has no members");
  if (new Set(options.voters).size !== options.voters.length) refuse(`a member is listed twice in ${options.voters.join(",")}`);
  if (!options.voters.includes(options.memberId)) refuse(`member ${JSON.stringify(options.memberId)} is not one of ${options.voters.join(",")}`);
  if (options.dropPrefix === "") refuse("the prefix of dropped keys is empty (it would drop every key)");
  for (const record of options.records) {
    if (!record.key.startsWith(options.dropPrefix)) refuse(`record ${JSON.stringify(record.key)} is outside ${JSON.stringify(options.dropPrefix)}`);
  }
}

/** The target may be missing or an empty directory; anything else is someone's data. */
function checkTargetEmpty(target: string): void {
  if (!existsSync(target)) return;
  if (!statSync(target).isDirectory()) throw new StorageError("not_a_directory", target, `data dir ${target} exists and is not a directory`);
  const names = readdirSync(target);
  if (names.length === 0) return;
  const what = names.includes("dkv.db") ? "already holds a dkv database" : `is not empty (it holds ${names.slice(0, 3).join(", ")}${names.length > 3 ? ", ..." : ""})`;
  throw new StorageError("identity_mismatch", target, `data dir ${target} ${what}; restore needs a new or empty directory`);
}

/** The seal check reads the whole file: a truncated or altered backup stops here. */
function readBackup(path: string): ImageMeta {
  if (!existsSync(path) || !statSync(path).isFile()) throw new StorageError("snapshot_missing", path, `backup ${path} does not exist or is not a file`);
  let image: ImageMeta;
  try {
    image = readImageMeta(path);
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw new StorageError("snapshot_invalid", path, `backup ${path} cannot be read: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (image.index < 1 || image.term < 1) throw new StorageError("snapshot_invalid", path, `backup ${path} is at index ${image.index}, term ${image.term}: nothing to restore`);
  return image;
}

async function buildDataDir(
  work: string,
  backupPath: string,
  backup: ImageMeta,
  options: RestoreOptions,
): Promise<{ snapshot: SnapshotMeta; keysCopied: number }> {
  const index = backup.index + 1;
  const term = backup.term;
  const confState: ConfState = { voters: [...options.voters].sort(), learners: [] };
  const restored = restoredState(backupPath, { index, term, confState, backupRevision: backup.revision }, options);
  const keysCopied = restored.keys.size - options.records.length;
  const opened = openDataDir(work, { clusterId: options.clusterId, memberId: options.memberId });
  try {
    // The image a leader sends to a member that joins later: it carries the new membership and cluster id.
    const creating = join(opened.paths.snapDir, `creating-restore-${process.pid}.tmp`);
    await writeImage(restored, creating, { clusterId: options.clusterId, isClosed: () => false });
    const snapshot: SnapshotMeta = { index, term, confState, sizeBytes: fileSize(creating) };
    const fileName = imageFileName(index, term);
    renameSync(creating, join(opened.paths.snapDir, fileName));
    fsyncDirectory(opened.paths.snapDir);
    const db = opened.db;
    db.transaction(() => {
      db.prepare("INSERT INTO snapshots (snap_index, snap_term, conf_state, size_bytes, file_name) VALUES (?, ?, ?, ?, ?)").run(
        index,
        term,
        encodeConfState(confState),
        snapshot.sizeBytes,
        fileName,
      );
      db.prepare("UPDATE hard_state SET term = ?, vote = '', commit_index = ? WHERE id = 1").run(term, index);
      db.prepare("UPDATE log_state SET compacted_index = ?, compacted_term = ? WHERE id = 1").run(index, term);
    })();
    // Fold the WAL into dkv.db so the renamed dir is self-contained.
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    return { snapshot, keysCopied };
  } finally {
    closeDatabase(opened.db);
    opened.lock.release();
  }
}

/** The backup's keys minus dropPrefix, plus the new records, as the state at (index, term). */
function restoredState(
  backupPath: string,
  at: { index: number; term: number; confState: ConfState; backupRevision: number },
  options: RestoreOptions,
): KvState {
  // readBackup has checked the seal.
  const { keys } = loadImage(backupPath, { sealChecked: true }).state;
  const dropped: string[] = [];
  for (const { key } of keys.from(options.dropPrefix)) {
    if (!key.startsWith(options.dropPrefix)) break;
    dropped.push(key);
  }
  for (const key of dropped) keys.delete(key);
  let newest = 0;
  for (const kv of keys.values()) newest = Math.max(newest, kv.modRevision);
  if (newest >= at.index) {
    throw new StorageError("snapshot_invalid", backupPath, `backup ${backupPath} holds a key at revision ${newest}, not below its index ${at.index - 1}`);
  }
  for (const record of options.records) {
    keys.set(record.key, { key: record.key, value: record.value, createRevision: at.index, modRevision: at.index, version: 1, lease: 0 });
  }
  // Without new records the store revision stays the backup's newest write.
  const revision = options.records.length > 0 ? at.index : Math.min(at.backupRevision, at.index - 1);
  return { index: at.index, term: at.term, revision, confState: at.confState, keys };
}

/** Opens the result as a node would (all of storage's open-time invariants) before it is published. */
function verifyBuilt(work: string, options: RestoreOptions, snapshot: SnapshotMeta): void {
  const store = openStorage(work, { clusterId: options.clusterId, memberId: options.memberId });
  try {
    const problems: string[] = [];
    if (store.kv.appliedIndex() !== snapshot.index) problems.push(`applied index ${store.kv.appliedIndex()}`);
    if (store.log.hardState().commit !== snapshot.index) problems.push(`commit ${store.log.hardState().commit}`);
    if (store.log.firstIndex() !== snapshot.index + 1) problems.push(`first log index ${store.log.firstIndex()}`);
    if (store.snapshots.newestMeta().index !== snapshot.index) problems.push(`snapshot ${store.snapshots.newestMeta().index}`);
    if (problems.length > 0) throw new StorageError("corrupt", work, `restored dir ${work} is inconsistent at ${snapshot.index}: ${problems.join(", ")}`);
  } finally {
    store.close();
  }
}
