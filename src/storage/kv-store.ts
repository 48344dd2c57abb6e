// The key-value state machine: committed raft entries go in, a per-entry result
// comes out. The rows a batch changes and the applied index that covers them
// are written in ONE transaction, so after any crash the table is exactly the
// result of applying entries 1..applied: none twice, none skipped.
//
// Metadata follows etcd: the revision of a write is its raft index;
// create_revision is the index that created the key, mod_revision the one that
// last wrote it, version counts writes since creation (a delete ends the key's
// life; the next put starts again at version 1).
//
// Applied writes are held in memory and written to the kv table in batches
// (flush): every FLUSH_INTERVAL_MS, at FLUSH_MAX_KEYS distinct keys or
// FLUSH_MAX_BYTES, before a snapshot is taken or installed, before a range
// read, and at close. The applied index written with a batch covers exactly
// its rows, so the table is always the result of entries 1..that index. Why:
// a put to a random key dirties a table page; with one commit per Ready
// (~110 puts at 256 clients) apply cost ~22 us per put on every member, a
// quarter of the leader's time in the put benchmark's profile; with a flush
// per ~1,000 keys ~12 us (measured on this storage with 10,000 keys). etcd
// batches its backend commits the same way.
//
// The same map caches keys read or written lately (up to CACHE_MAX_BYTES), so
// a get of a hot key costs a Map lookup instead of a SQLite point read (~6 us
// outside a transaction): serializable gets at 64 clients went 17.6-21.3k to
// 21.9-31.0k ops/s in the benchmark's A/B.
//
// Nothing acknowledged depends on a flush: a committed entry is durable in
// the log of a majority, and the log is compacted only behind a snapshot,
// which is taken after a flush. After a crash the table's applied index is
// older than what was applied, and the core hands the entries after it out
// again (the same as when a power loss drops the tail of the WAL). Flushes
// are commits at SyncMode "normal" (no fsync of their own) unless "full" is
// asked for.

import type { Database, Statement } from "bun:sqlite";
import { fromBinary } from "@bufbuild/protobuf";
import {
  type Command,
  type CompareAndSwapCommand,
  type CompareCommand,
  CommandSchema,
  CompareCommand_Target,
} from "../gen/dkv/raft/v1/command_pb";
import type { ConfState, Entry, EntryType } from "../raft/types";
import { assert } from "./errors";
import { MAX_RANGE_KEYS, MAX_RANGE_RESPONSE_BYTES } from "./limits";
import { decodeConfState, encodeConfState } from "./schema";
import type { SyncMode, WriteTransactions } from "./sqlite";

const ENTRY_TYPE_CONF_CHANGE: EntryType.ConfChange = 1;
const EMPTY_VALUE = new Uint8Array(0);

/** Flush applied writes at least this often (checked when entries are applied). */
export const FLUSH_INTERVAL_MS = 100;
/** ... or once this many distinct keys wait (a flush of 1,000 random keys of 10,000 took ~10 ms here). */
export const FLUSH_MAX_KEYS = 1000;
/** ... or once their values and keys hold this many bytes. */
export const FLUSH_MAX_BYTES = 16 * 1024 * 1024;
/** Keys kept in memory (waiting for a flush, or read or written lately) hold at most this many bytes. */
export const CACHE_MAX_BYTES = 32 * 1024 * 1024;
/** Per cached key, beside its key and value bytes. */
const CACHE_OVERHEAD_BYTES = 64;

export interface KeyValue {
  key: string;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
}

interface ResultBase {
  /** Raft index of the entry (= the revision of its write, if it wrote). */
  index: number;
}
interface CommandResultBase extends ResultBase {
  clientId: string;
  requestId: bigint;
}

/** What applying one committed entry did, so the server can answer the waiting client. */
export type ApplyResult =
  /** A leader's empty entry or a membership change: only the applied index moved. */
  | (ResultBase & { kind: "noop" })
  | (CommandResultBase & { kind: "put"; kv: KeyValue })
  | (CommandResultBase & { kind: "delete"; deleted: boolean })
  | (CommandResultBase & { kind: "compareAndSwap"; succeeded: boolean; previous?: KeyValue; kv?: KeyValue })
  /** A command every node refuses alike (undecodable, no operation, empty key): nothing written. */
  | (CommandResultBase & { kind: "invalid"; error: string });

export interface RangeOptions {
  /** Keys starting with prefix ("" = all keys). Exclusive with start/end. */
  prefix?: string;
  /** Keys in [start, end); start defaults to the first key, end to past the last. */
  start?: string;
  end?: string;
  /** At most this many keys (0 or absent: MAX_RANGE_KEYS; larger values are capped to it). */
  limit?: number;
  /** Leave values out (value is empty) - cheaper for large values. */
  keysOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** More keys matched than were returned (limit or MAX_RANGE_RESPONSE_BYTES reached). */
  more: boolean;
}

interface KvRow {
  key: Uint8Array;
  value?: Uint8Array;
  create_revision: number;
  mod_revision: number;
  version: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class KvStore {
  private readonly writeRow: Statement;
  private readonly deleteKey: Statement;
  private readonly selectKey: Statement;
  private readonly updateApplied: Statement;
  private readonly updateAppliedAndConf: Statement;
  private readonly rangeStatements: Record<"bounded" | "open", Record<"values" | "keys", Statement>>;

  private applied = 0;
  private appliedTermValue = 0;
  private revisionValue = 0;
  private conf: ConfState = { voters: [], learners: [] };
  /**
   * Keys as of the applied index (null: absent), oldest first: every applied
   * write not yet in the table, and keys read or written lately. Reads look
   * here first; a SQLite point read costs ~6 us (~1.5 us inside a
   * transaction), a Map lookup well under one.
   */
  private readonly cache = new Map<string, KeyValue | null>();
  private cacheBytes = 0;
  /** The cached keys whose state the table does not have yet. */
  private readonly dirty = new Set<string>();
  private dirtyBytes = 0;
  /** The applied index the table holds. */
  private flushed = 0;
  private lastFlushMs = performance.now();
  /** Membership was applied since the last flush (otherwise the table's is left alone: bootstrap writes it directly). */
  private confPending = false;

  constructor(
    private readonly db: Database,
    private readonly transactions: WriteTransactions,
    private readonly applySync: SyncMode = "normal",
  ) {
    this.writeRow = db.prepare(
      `INSERT INTO kv (key, value, create_revision, mod_revision, version) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, create_revision = excluded.create_revision,
         mod_revision = excluded.mod_revision, version = excluded.version`,
    );
    this.deleteKey = db.prepare("DELETE FROM kv WHERE key = ?");
    this.selectKey = db.prepare("SELECT key, value, create_revision, mod_revision, version FROM kv WHERE key = ?");
    this.updateApplied = db.prepare("UPDATE applied_state SET applied_index = ?, applied_term = ?, revision = ? WHERE id = 1");
    this.updateAppliedAndConf = db.prepare(
      "UPDATE applied_state SET applied_index = ?, applied_term = ?, revision = ?, conf_state = ? WHERE id = 1",
    );
    const columns = (withValue: boolean) => `key, ${withValue ? "value, " : ""}create_revision, mod_revision, version`;
    const rangeSql = (withValue: boolean, bounded: boolean) =>
      `SELECT ${columns(withValue)} FROM kv WHERE key >= ?${bounded ? " AND key < ?" : ""} ORDER BY key LIMIT ?`;
    this.rangeStatements = {
      bounded: { values: db.prepare(rangeSql(true, true)), keys: db.prepare(rangeSql(false, true)) },
      open: { values: db.prepare(rangeSql(true, false)), keys: db.prepare(rangeSql(false, false)) },
    };
    this.reload();
  }

  /** Re-reads the applied state (at open, and after a snapshot install); forgets unflushed writes. */
  reload(): void {
    this.cache.clear();
    this.cacheBytes = 0;
    this.dirty.clear();
    this.dirtyBytes = 0;
    this.confPending = false;
    const row = this.db.query("SELECT applied_index, applied_term, revision, conf_state FROM applied_state WHERE id = 1").get() as {
      applied_index: number;
      applied_term: number;
      revision: number;
      conf_state: string;
    } | null;
    assert(row !== null, "applied_state row is missing");
    this.applied = row.applied_index;
    this.appliedTermValue = row.applied_term;
    this.revisionValue = row.revision;
    this.conf = decodeConfState(row.conf_state);
    this.flushed = this.applied;
  }

  /** Index of the newest applied entry (its effects may still wait for a flush). */
  appliedIndex(): number {
    return this.applied;
  }

  appliedTerm(): number {
    return this.appliedTermValue;
  }

  /** Index of the newest entry that changed a key (etcd's store revision). */
  revision(): number {
    return this.revisionValue;
  }

  /** Membership as of the applied index. */
  confState(): ConfState {
    return { voters: [...this.conf.voters], learners: [...this.conf.learners] };
  }

  /** Index of the newest applied entry whose effects are in the table (what a restart starts from). */
  flushedIndex(): number {
    return this.flushed;
  }

  /**
   * Applies committed entries (contiguous, starting at appliedIndex() + 1) and,
   * if given, the membership after them. Their effects are visible at once;
   * the table gets them with the next flush.
   */
  apply(entries: readonly Entry[], confState?: ConfState): ApplyResult[] {
    if (entries.length === 0 && confState === undefined) return [];
    for (let i = 0; i < entries.length; i++) {
      assert(
        entries[i]!.index === this.applied + 1 + i,
        `apply out of order: entry ${entries[i]!.index} at position ${i}, applied index is ${this.applied}`,
      );
    }
    const results: ApplyResult[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const result = this.applyEntry(entry);
      if (writes(result)) this.revisionValue = result.index;
      results[i] = result;
      this.applied = entry.index;
      this.appliedTermValue = entry.term;
    }
    if (confState !== undefined) {
      this.conf = { voters: [...confState.voters], learners: [...confState.learners] };
      this.confPending = true;
    }
    if (
      this.dirty.size >= FLUSH_MAX_KEYS ||
      this.dirtyBytes >= FLUSH_MAX_BYTES ||
      performance.now() - this.lastFlushMs >= FLUSH_INTERVAL_MS
    ) {
      this.flush();
    }
    return results;
  }

  /** Writes the waiting effects and the applied state to the table, in one transaction. */
  flush(): void {
    this.lastFlushMs = performance.now();
    if (this.flushed === this.applied && this.dirty.size === 0 && !this.confPending) return;
    this.transactions.run(this.applySync, () => {
      for (const key of this.dirty) {
        const kv = this.cache.get(key);
        assert(kv !== undefined, `dirty key ${JSON.stringify(key)} is not cached`);
        if (kv === null) this.deleteKey.run(encoder.encode(key));
        else this.writeRow.run(encoder.encode(key), kv.value, kv.createRevision, kv.modRevision, kv.version);
      }
      if (this.confPending) this.updateAppliedAndConf.run(this.applied, this.appliedTermValue, this.revisionValue, encodeConfState(this.conf));
      else this.updateApplied.run(this.applied, this.appliedTermValue, this.revisionValue);
    });
    this.confPending = false;
    this.dirty.clear();
    this.dirtyBytes = 0;
    this.evict();
    this.flushed = this.applied;
  }

  private applyEntry(entry: Entry): ApplyResult {
    if (entry.type === ENTRY_TYPE_CONF_CHANGE || entry.data.byteLength === 0) return { index: entry.index, kind: "noop" };
    let command: Command;
    try {
      command = fromBinary(CommandSchema, entry.data);
    } catch (error) {
      return { index: entry.index, clientId: "", requestId: 0n, kind: "invalid", error: `undecodable command: ${String(error)}` };
    }
    const base = { index: entry.index, clientId: command.clientId, requestId: command.requestId };
    const op = command.op;
    switch (op.case) {
      case "put":
        if (op.value.key.length === 0) return { ...base, kind: "invalid", error: "key must not be empty" };
        return { ...base, kind: "put", kv: this.put(op.value.key, op.value.value, entry.index) };
      case "delete":
        if (op.value.key.length === 0) return { ...base, kind: "invalid", error: "key must not be empty" };
        return { ...base, kind: "delete", deleted: this.remove(op.value.key) };
      case "compareAndSwap":
        return this.compareAndSwap(base, op.value, entry.index);
      case undefined:
        return { ...base, kind: "invalid", error: "command has no operation" };
    }
  }

  private put(key: string, value: Uint8Array, index: number): KeyValue {
    // A delete ends a key's life: the next put starts again at version 1.
    const previous = this.get(key);
    // A copy: the command's bytes are a view into a whole received frame, which the cache must not keep alive.
    const kv: KeyValue = { key, value: value.slice(), createRevision: previous?.createRevision ?? index, modRevision: index, version: (previous?.version ?? 0) + 1 };
    this.write(key, kv);
    return kv;
  }

  /** Deletes key; false when there was none. */
  private remove(key: string): boolean {
    if (this.get(key) === undefined) return false;
    this.write(key, null);
    return true;
  }

  /** An applied write: cached (as the newest) and dirty until the next flush. */
  private write(key: string, kv: KeyValue | null): void {
    const size = cachedSize(key, kv);
    const before = this.cache.get(key);
    if (before !== undefined) {
      this.cacheBytes -= cachedSize(key, before);
      this.cache.delete(key);
      if (this.dirty.has(key)) this.dirtyBytes -= cachedSize(key, before);
    }
    this.cache.set(key, kv);
    this.cacheBytes += size;
    this.dirty.add(key);
    this.dirtyBytes += size;
  }

  /** Drops the oldest clean keys while the cache holds more than CACHE_MAX_BYTES (dirty ones stay until flushed). */
  private evict(): void {
    if (this.cacheBytes <= CACHE_MAX_BYTES) return;
    for (const [key, kv] of this.cache) {
      if (this.cacheBytes <= CACHE_MAX_BYTES * 0.75) break;
      if (this.dirty.has(key)) continue;
      this.cache.delete(key);
      this.cacheBytes -= cachedSize(key, kv);
    }
  }

  private compareAndSwap(base: CommandResultBase, cas: CompareAndSwapCommand, index: number): ApplyResult {
    const compare = cas.compare;
    if (compare === undefined) return { ...base, kind: "invalid", error: "compare-and-swap needs a comparison" };
    if (compare.key.length === 0 || cas.key.length === 0) return { ...base, kind: "invalid", error: "key must not be empty" };
    const compared = this.get(compare.key);
    const succeeded = compares(compare, compared);
    if (succeeded === undefined) {
      return { ...base, kind: "invalid", error: `unknown compare target ${compare.target}` };
    }
    const previous = cas.key === compare.key ? compared : this.get(cas.key);
    if (!succeeded) return { ...base, kind: "compareAndSwap", succeeded: false, ...(previous ? { previous } : {}) };
    if (cas.delete) {
      this.remove(cas.key);
      return { ...base, kind: "compareAndSwap", succeeded: true, ...(previous ? { previous } : {}) };
    }
    const kv = this.put(cas.key, cas.value, index);
    return { ...base, kind: "compareAndSwap", succeeded: true, kv, ...(previous ? { previous } : {}) };
  }

  // ---- Reads (local state; linearizability is the server's job via ReadIndex) ----

  get(key: string): KeyValue | undefined {
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const row = this.selectKey.get(encoder.encode(key)) as KvRow | null;
    const kv = row === null ? null : toKeyValue(row, key);
    this.cache.set(key, kv);
    this.cacheBytes += cachedSize(key, kv);
    if (this.cacheBytes > CACHE_MAX_BYTES) this.evict();
    return kv ?? undefined;
  }

  range(options: RangeOptions = {}): RangeResult {
    // Ranges read the table in key order; merging the waiting writes in is not worth it for the rare range.
    this.flush();
    let start: Uint8Array;
    let end: Uint8Array | undefined;
    if (options.prefix !== undefined) {
      assert(options.start === undefined && options.end === undefined, "range: prefix excludes start/end");
      start = encoder.encode(options.prefix);
      end = prefixEnd(start);
    } else {
      start = encoder.encode(options.start ?? "");
      end = options.end === undefined || options.end === "" ? undefined : encoder.encode(options.end);
    }
    const limit = options.limit === undefined || options.limit <= 0 ? MAX_RANGE_KEYS : Math.min(options.limit, MAX_RANGE_KEYS);
    const keysOnly = options.keysOnly === true;
    const statement = this.rangeStatements[end === undefined ? "open" : "bounded"][keysOnly ? "keys" : "values"];
    // One row past the limit tells whether there is more.
    const rows = (end === undefined ? statement.iterate(start, limit + 1) : statement.iterate(start, end, limit + 1)) as IterableIterator<KvRow>;
    const kvs: KeyValue[] = [];
    let bytes = 0;
    let more = false;
    for (const row of rows) {
      const size = row.key.byteLength + (row.value?.byteLength ?? 0);
      if (kvs.length === limit || (kvs.length > 0 && bytes + size > MAX_RANGE_RESPONSE_BYTES)) {
        more = true;
        break;
      }
      bytes += size;
      kvs.push(toKeyValue(row, decoder.decode(row.key)));
    }
    return { kvs, more };
  }

  /** Number of keys (tests and status). */
  count(): number {
    this.flush();
    return (this.db.query("SELECT COUNT(*) AS n FROM kv").get() as { n: number }).n;
  }

  /**
   * Inside a snapshot install transaction: replace every row with the image's
   * (ATTACHed as `img`) and take its applied state. Call reload() after commit.
   */
  replaceFromImageInTransaction(image: { index: number; term: number; revision: number; confState: ConfState }): void {
    assert(this.db.inTransaction, "replaceFromImageInTransaction outside a transaction");
    assert(this.dirty.size === 0 && this.flushed === this.applied && !this.confPending, "flush() before installing a snapshot");
    this.db.exec("DELETE FROM main.kv");
    this.db.exec(
      "INSERT INTO main.kv (key, value, create_revision, mod_revision, version) SELECT key, value, create_revision, mod_revision, version FROM img.kv",
    );
    this.updateAppliedAndConf.run(image.index, image.term, image.revision, encodeConfState(image.confState));
  }
}

function writes(result: ApplyResult): boolean {
  switch (result.kind) {
    case "put":
      return true;
    case "delete":
      return result.deleted;
    case "compareAndSwap":
      return result.succeeded && (result.kv !== undefined || result.previous !== undefined);
    default:
      return false;
  }
}

/** Whether the comparison holds; undefined for a target this version does not know. */
function compares(compare: CompareCommand, current: KeyValue | undefined): boolean | undefined {
  switch (compare.target) {
    case CompareCommand_Target.VALUE:
      // A missing key never equals any value (not even an empty one).
      return current !== undefined && bytesEqual(current.value, compare.value);
    case CompareCommand_Target.VERSION:
      return BigInt(current?.version ?? 0) === compare.number;
    case CompareCommand_Target.MOD_REVISION:
      return BigInt(current?.modRevision ?? 0) === compare.number;
    case CompareCommand_Target.CREATE_REVISION:
      return BigInt(current?.createRevision ?? 0) === compare.number;
    default:
      return undefined;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function cachedSize(key: string, kv: KeyValue | null): number {
  return CACHE_OVERHEAD_BYTES + key.length * 3 + (kv?.value.byteLength ?? 0);
}

function toKeyValue(row: KvRow, key: string): KeyValue {
  return {
    key,
    value: row.value ?? EMPTY_VALUE,
    createRevision: row.create_revision,
    modRevision: row.mod_revision,
    version: row.version,
  };
}

/** The smallest byte string greater than every string starting with prefix; undefined when there is none. */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  for (let i = prefix.byteLength - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = prefix[i]! + 1;
      return end;
    }
  }
  return undefined;
}
