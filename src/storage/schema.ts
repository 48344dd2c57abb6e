// The on-disk shape of a node's database and of a snapshot image, and the
// version stamps that let a binary refuse files it does not understand.
// Bump SCHEMA_VERSION whenever a table changes; add a migration for the old one.

import { closeSync, openSync, readSync } from "node:fs";
import type { ConfState } from "../raft/types";
import { assert } from "./errors";

/**
 * Version of the tables below. A binary refuses a database with a higher one.
 * 3: the raft log lives in segment tables log_<n> (log-segments.ts) instead of one `log` table.
 */
export const SCHEMA_VERSION = 3;
/** Version of the snapshot image layout (kv + snapshot_meta tables). */
export const SNAPSHOT_FORMAT_VERSION = 1;

/** SQLite header field (offset 68) marking a file as a dkv database: "dkvD". */
export const DATA_APPLICATION_ID = 0x646b7644;
/** The same for a snapshot image: "dkvS". */
export const SNAPSHOT_APPLICATION_ID = 0x646b7653;

const SQLITE_MAGIC = "SQLite format 3\0";
const SQLITE_HEADER_BYTES = 100;
const APPLICATION_ID_OFFSET = 68;

/** What the first 100 bytes of a file say it is. */
export type FileKind = "empty" | "not_sqlite" | "sqlite_other" | "dkv_data" | "dkv_snapshot";

export function classifyHeader(header: Uint8Array): FileKind {
  if (header.byteLength === 0) return "empty";
  if (header.byteLength < SQLITE_HEADER_BYTES) return "not_sqlite";
  const magic = new TextDecoder("latin1").decode(header.subarray(0, SQLITE_MAGIC.length));
  if (magic !== SQLITE_MAGIC) return "not_sqlite";
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const applicationId = view.getUint32(APPLICATION_ID_OFFSET, false);
  if (applicationId === DATA_APPLICATION_ID) return "dkv_data";
  if (applicationId === SNAPSHOT_APPLICATION_ID) return "dkv_snapshot";
  return "sqlite_other";
}

export function readHeader(path: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const header = new Uint8Array(SQLITE_HEADER_BYTES);
    const read = readSync(fd, header, 0, SQLITE_HEADER_BYTES, 0);
    return header.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/**
 * The key-value table, shared by the database and snapshot images so an image
 * installs with one INSERT ... SELECT. Keys are BLOBs (the UTF-8 bytes) so
 * ranges compare bytewise like etcd and a prefix's upper bound is computable.
 *
 * A rowid table (rows by rowid, plus an index on key), not WITHOUT ROWID: with
 * 256-byte values, random-key puts measured 14k/s WITHOUT ROWID against
 * 110k-130k/s here, because the key index stays small (~150 keys per page) and
 * rows are updated in place or appended instead of splitting wide b-tree pages.
 */
export function kvTableSql(schema: string): string {
  return `CREATE TABLE ${schema}.kv (
    key BLOB PRIMARY KEY,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL,
    version INTEGER NOT NULL
  )`;
}

/** Tables of a node's database; every single-row table holds exactly the row id = 1. */
export const DATA_SCHEMA_SQL: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`,
  // Raft's hard state: must be durable before any message produced with it is sent.
  `CREATE TABLE hard_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    term INTEGER NOT NULL, vote TEXT NOT NULL, commit_index INTEGER NOT NULL)`,
  // The log starts after compacted_index; compacted_term is that entry's term.
  `CREATE TABLE log_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    compacted_index INTEGER NOT NULL, compacted_term INTEGER NOT NULL)`,
  // The log's entries live in segment tables log_<n>, created as the log reaches them (log-segments.ts).
  // The state a node starts from when no snapshot is newer: membership of a new
  // cluster (index 0), or what a schema-1 binary last wrote to kv (see storage.ts).
  `CREATE TABLE applied_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    applied_index INTEGER NOT NULL, applied_term INTEGER NOT NULL,
    revision INTEGER NOT NULL, conf_state TEXT NOT NULL)`,
  kvTableSql("main"),
  // Snapshot images under <data-dir>/snap/ that this node may serve (newest last).
  `CREATE TABLE snapshots (
    snap_index INTEGER PRIMARY KEY, snap_term INTEGER NOT NULL,
    conf_state TEXT NOT NULL, size_bytes INTEGER NOT NULL, file_name TEXT NOT NULL)`,
  `INSERT INTO hard_state (id, term, vote, commit_index) VALUES (1, 0, '', 0)`,
  `INSERT INTO log_state (id, compacted_index, compacted_term) VALUES (1, 0, 0)`,
  `INSERT INTO applied_state (id, applied_index, applied_term, revision, conf_state)
     VALUES (1, 0, 0, 0, '{"voters":[],"learners":[]}')`,
];

/** Tables of a snapshot image, created in the image file by its own connection (see snapshot-image.ts). */
export const SNAPSHOT_SCHEMA_SQL: readonly string[] = [
  kvTableSql("main"),
  `CREATE TABLE main.snapshot_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    format_version INTEGER NOT NULL, snap_index INTEGER NOT NULL, snap_term INTEGER NOT NULL,
    revision INTEGER NOT NULL, conf_state TEXT NOT NULL, cluster_id TEXT NOT NULL)`,
];

export const META_SCHEMA_VERSION = "schema_version";
export const META_CLUSTER_ID = "cluster_id";
export const META_MEMBER_ID = "member_id";
export const META_CREATED_AT = "created_at";

export const EMPTY_CONF_STATE: ConfState = { voters: [], learners: [] };

export function encodeConfState(confState: ConfState): string {
  return JSON.stringify({ voters: [...confState.voters], learners: [...confState.learners] });
}

export function decodeConfState(text: string): ConfState {
  const parsed: unknown = JSON.parse(text);
  assert(
    typeof parsed === "object" &&
      parsed !== null &&
      isStringArray((parsed as Record<string, unknown>).voters) &&
      isStringArray((parsed as Record<string, unknown>).learners),
    `stored membership is not {voters, learners}: ${text.slice(0, 200)}`,
  );
  const record = parsed as { voters: string[]; learners: string[] };
  return { voters: record.voters, learners: record.learners };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

export function confStatesEqual(a: ConfState, b: ConfState): boolean {
  return encodeConfState(a) === encodeConfState(b);
}
