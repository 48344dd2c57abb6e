// The key-value state machine: committed raft entries go in, a per-entry result
// comes out.
//
// Metadata follows etcd: the revision of a write is its raft index;
// create_revision is the index that created the key, mod_revision the one that
// last wrote it, version counts writes since creation (a delete ends the key's
// life; the next put starts again at version 1).
//
// The state lives in memory only (key-space.ts: a Map of values, and the key
// names in a B+ tree ordered like etcd's keys, by UTF-8 bytes) and is durable
// through the raft log and snapshots: a node starts from its newest snapshot
// image and the core hands it the committed entries after it again, as rqlite
// does in its default in-memory mode (etcd likewise replays its log after the
// index its backend last committed). Why: writing applied keys to a SQLite
// table cost every member ~10 us per key (and held the event loop ~10 ms per
// batch of 1,000 keys); with 3 members on 2 cores that was a quarter of the
// CPU per put in the benchmark.
//
// Nothing acknowledged depends on this memory: a committed entry is durable in
// the log of a majority, and the log is compacted only behind a snapshot.

import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { type Command, type CompareAndSwapCommand, CommandSchema, type RangeCommand, type TxnCommand } from "../gen/dkv/raft/v1/command_pb";
import { compares, txnCompares, txnOpProblem } from "./compare-rules";
import type { ConfState, Entry, EntryType } from "../raft/types";
import { assert } from "./errors";
import { MAX_RANGE_KEYS, MAX_RANGE_RESPONSE_BYTES } from "./limits";
import { compareKeys } from "./key-order";
import { type FrozenKeys, KeySpace } from "./key-space";
import { decodePutCommand } from "./put-command-wire";
import {
  decodeLeaseTtl,
  encodeLeaseTtl,
  LEASE_KEY_PREFIX,
  LEASE_RECORD_PREFIX,
  leaseAttachmentKey,
  leaseKeysPrefix,
  leaseRecordKey,
  MAX_LEASE_ID,
  MAX_LEASE_TTL_SECONDS,
  parseLeaseAttachment,
  parseLeaseRecordKey,
} from "./leases";

const ENTRY_TYPE_CONF_CHANGE: EntryType.ConfChange = 1;
/** Keys below this are dkv's own records (members, leases): "\u0000..." */
const CLIENT_KEYS_START = "\u0001";
const EMPTY_VALUE = new Uint8Array(0);

/**
 * Commands this process encoded and has not applied yet, by their bytes: the
 * leader applies the very entries it proposed (raft passes the bytes through
 * by reference), so it need not decode them again - 6.5% of the leader's CPU
 * in the put profile. Entries leave the map as they apply, or when the bytes
 * go to another member instead (forgetEncoded); those never applied (a lost
 * leadership) are dropped once the map holds MAX_ENCODED_PENDING_BYTES,
 * which bounds the values it keeps alive.
 */
const encodedHere = new Map<Uint8Array, Command>();
let encodedHereBytes = 0;
const MAX_ENCODED_PENDING_BYTES = 64 * 1024 * 1024;

/** The bytes of a command to propose (`data`: already encoded by a hand-written encoder); applying them here skips the decoding. */
export function encodeCommand(command: Command, data: Uint8Array = toBinary(CommandSchema, command)): Uint8Array {
  if (encodedHereBytes + data.byteLength > MAX_ENCODED_PENDING_BYTES) {
    encodedHere.clear();
    encodedHereBytes = 0;
  }
  encodedHere.set(data, command);
  encodedHereBytes += data.byteLength;
  return data;
}

/** The bytes will not be applied here as they are (forwarded to the leader): stop remembering their command. */
export function forgetEncoded(data: Uint8Array): void {
  if (encodedHere.delete(data)) encodedHereBytes -= data.byteLength;
}

/** Commands remembered by encodeCommand and not applied or forgotten yet (for tests). */
export function encodedPending(): { commands: number; bytes: number } {
  return { commands: encodedHere.size, bytes: encodedHereBytes };
}

export interface KeyValue {
  key: string;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  /** The lease the key is attached to; 0: none. */
  lease: number;
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
  /** `previous`: the key before the put (for watchers that ask for it). */
  | (CommandResultBase & { kind: "put"; kv: KeyValue; previous?: KeyValue | undefined })
  | (CommandResultBase & { kind: "delete"; key: string; deleted: boolean; previous?: KeyValue })
  | (CommandResultBase & { kind: "compareAndSwap"; succeeded: boolean; previous?: KeyValue; kv?: KeyValue })
  /** A transaction: which branch ran, one outcome per op, and the keys it changed, in op order. */
  | (CommandResultBase & { kind: "txn"; succeeded: boolean; results: TxnOpOutcome[]; changes: TxnChange[] })
  /** A delete of a prefix or a range: the keys it deleted, as they were, for watchers. */
  | (CommandResultBase & { kind: "deleteRange"; deleted: KeyValue[] })
  | (CommandResultBase & { kind: "leaseGrant"; id: number; ttlSeconds: number })
  /** `deleted`: the keys that went with the lease, as they were, for watchers. */
  | (CommandResultBase & { kind: "leaseRevoke"; id: number; deleted: KeyValue[] })
  | (CommandResultBase & { kind: "leaseKeepAlive"; id: number; ttlSeconds: number })
  /** A command every node refuses alike for the state it met (an unknown lease, a taken id): nothing written. */
  | (CommandResultBase & { kind: "refused"; code: "not_found" | "failed_precondition"; error: string })
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
  /** Only count the keys in range (no kvs; limit does not apply). */
  countOnly?: boolean;
  /** At most this many bytes of keys and values (default and cap: MAX_RANGE_RESPONSE_BYTES, which any one key fits). */
  maxBytes?: number;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** More keys matched than were returned (limit or MAX_RANGE_RESPONSE_BYTES reached). */
  more: boolean;
  /** With countOnly: how many keys are in range. */
  count?: number;
}

/** A range of client keys: those starting with prefix, or, when rangeEnd is set, in [key, rangeEnd). */
export interface ClientRange {
  prefix: string;
  key: string;
  rangeEnd: string;
  limit: number;
  keysOnly: boolean;
  countOnly: boolean;
}

/** What a state is as of one applied index, whatever holds its keys. */
interface StateAt<Keys> {
  index: number;
  term: number;
  /** Index of the newest entry that changed a key (etcd's store revision). */
  revision: number;
  confState: ConfState;
  keys: Keys;
}

/** A key a transaction wrote: `kv` after it (undefined: deleted), `previous` before it. */
export interface TxnChange {
  key: string;
  kv: KeyValue | undefined;
  previous: KeyValue | undefined;
}

/** What one op of a transaction did. */
export type TxnOpOutcome =
  | { type: "put"; kv: KeyValue }
  | { type: "delete"; deleted: number }
  | { type: "get"; kv?: KeyValue }
  | { type: "list"; kvs: KeyValue[]; more: boolean; count: number };

/** A lease as the state holds it (when it ends is the leader's business). */
export interface LeaseInfo {
  id: number;
  ttlSeconds: number;
}

/** The state as of one applied index: what a snapshot image holds and a node starts from. */
export type KvState = StateAt<KeySpace>;
/** The state frozen for a snapshot image while writes go on; release its keys when done. */
export type FrozenKvState = StateAt<FrozenKeys>;

export class KvStore {
  // Set by replace(), which the constructor calls.
  private applied!: number;
  private appliedTermValue!: number;
  private revisionValue!: number;
  private conf!: ConfState;
  private keys!: KeySpace;
  /** What the last put() replaced (undefined: the key was new); read right after the call. */
  private replaced: KeyValue | undefined;

  constructor(state: KvState) {
    this.replace(state);
  }

  /** Takes another state whole (at open, and for a snapshot install). */
  replace(state: KvState): void {
    this.applied = state.index;
    this.appliedTermValue = state.term;
    this.revisionValue = state.revision;
    this.conf = copyConf(state.confState);
    this.keys = state.keys;
    this.markLeasedKeys();
  }

  /** Keys loaded from an image or a restore come with lease 0; their attachments say otherwise. */
  private markLeasedKeys(): void {
    const attached: Array<{ id: number; key: string }> = [];
    for (const kv of this.keys.from(LEASE_KEY_PREFIX)) {
      if (!kv.key.startsWith(LEASE_KEY_PREFIX)) break;
      const attachment = parseLeaseAttachment(kv.key);
      if (attachment !== undefined) attached.push(attachment);
    }
    for (const { id, key } of attached) {
      const kv = this.keys.get(key);
      if (kv !== undefined && kv.lease !== id) this.keys.set(key, { ...kv, lease: id }, kv);
    }
  }

  /** The membership of a brand-new cluster, before anything is applied. */
  setBootstrapConf(confState: ConfState): void {
    assert(this.applied === 0, `bootstrap membership given to a node that applied up to ${this.applied}`);
    this.conf = copyConf(confState);
  }

  /**
   * The state as of now, frozen: later writes do not show in it. For writing
   * a snapshot image while writes go on; call keys.release() when done.
   */
  frozen(): FrozenKvState {
    return {
      index: this.applied,
      term: this.appliedTermValue,
      revision: this.revisionValue,
      confState: copyConf(this.conf),
      keys: this.keys.freeze(),
    };
  }

  /** Index of the newest applied entry. */
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
    return copyConf(this.conf);
  }

  /** Applies committed entries (contiguous, starting at appliedIndex() + 1) and, if given, the membership after them. */
  apply(entries: readonly Entry[], confState?: ConfState): ApplyResult[] {
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
    if (confState !== undefined) this.conf = copyConf(confState);
    return results;
  }

  private applyEntry(entry: Entry): ApplyResult {
    if (entry.type === ENTRY_TYPE_CONF_CHANGE || entry.data.byteLength === 0) return { index: entry.index, kind: "noop" };
    let command: Command | undefined = encodedHere.get(entry.data);
    if (command !== undefined) forgetEncoded(entry.data);
    try {
      command ??= decodePutCommand(entry.data) ?? fromBinary(CommandSchema, entry.data);
    } catch (error) {
      return { index: entry.index, clientId: "", requestId: 0n, kind: "invalid", error: `undecodable command: ${String(error)}` };
    }
    const base = { index: entry.index, clientId: command.clientId, requestId: command.requestId };
    const op = command.op;
    switch (op.case) {
      case "put": {
        if (op.value.key.length === 0) return { ...base, kind: "invalid", error: "key must not be empty" };
        const lease = op.value.lease;
        if (lease === 0n) {
          const kv = this.put(op.value.key, op.value.value, entry.index, 0);
          return { ...base, kind: "put", kv, previous: this.replaced };
        }
        const id = leaseId(lease);
        if (id === undefined) return { ...base, kind: "invalid", error: `lease id ${lease} is out of range` };
        if (this.keys.get(leaseRecordKey(id)) === undefined) {
          return { ...base, kind: "refused", code: "not_found", error: `lease ${id} not found (it expired or was revoked); grant a new one` };
        }
        const kv = this.put(op.value.key, op.value.value, entry.index, id);
        return { ...base, kind: "put", kv, previous: this.replaced };
      }
      case "delete":
        if (op.value.prefix || op.value.rangeEnd !== "") return { ...base, kind: "deleteRange", deleted: this.deleteRange(op.value.key, op.value.prefix, op.value.rangeEnd) };
        if (op.value.key.length === 0) return { ...base, kind: "invalid", error: "key must not be empty" };
      {
        const previous = this.deleteKey(op.value.key);
        return previous === undefined ? { ...base, kind: "delete", key: op.value.key, deleted: false } : { ...base, kind: "delete", key: op.value.key, deleted: true, previous };
      }
      case "compareAndSwap":
        return this.compareAndSwap(base, op.value, entry.index);
      case "txn":
        return this.txn(base, op.value, entry.index);
      case "leaseGrant": {
        const id = leaseId(op.value.id);
        const ttl = Number(op.value.ttlSeconds);
        if (id === undefined) return { ...base, kind: "invalid", error: `lease id ${op.value.id} is out of range` };
        if (!(ttl >= 1 && ttl <= MAX_LEASE_TTL_SECONDS)) return { ...base, kind: "invalid", error: `lease TTL ${op.value.ttlSeconds} s is out of range` };
        const record = leaseRecordKey(id);
        if (this.keys.get(record) !== undefined) return { ...base, kind: "refused", code: "failed_precondition", error: `lease ${id} already exists` };
        this.put(record, encodeLeaseTtl(ttl), entry.index, 0);
        return { ...base, kind: "leaseGrant", id, ttlSeconds: ttl };
      }
      case "leaseRevoke": {
        const id = leaseId(op.value.id);
        if (id === undefined || this.keys.get(leaseRecordKey(id)) === undefined) {
          return { ...base, kind: "refused", code: "not_found", error: `lease ${op.value.id} not found (it expired or was revoked already)` };
        }
        return { ...base, kind: "leaseRevoke", id, deleted: this.revokeLease(id) };
      }
      case "leaseKeepAlive": {
        const id = leaseId(op.value.id);
        const record = id === undefined ? undefined : this.keys.get(leaseRecordKey(id));
        if (id === undefined || record === undefined) {
          return { ...base, kind: "refused", code: "not_found", error: `lease ${op.value.id} not found (it expired or was revoked); grant a new one` };
        }
        return { ...base, kind: "leaseKeepAlive", id, ttlSeconds: decodeLeaseTtl(record.value) };
      }
      case undefined:
        return { ...base, kind: "invalid", error: "command has no operation" };
    }
  }

  private put(key: string, value: Uint8Array, index: number, lease: number): KeyValue {
    // A delete ends a key's life: the next put starts again at version 1.
    const previous = this.keys.get(key);
    this.replaced = previous;
    // A copy: the command's bytes are a view into a whole received frame, which the state must not keep alive.
    const kv: KeyValue = { key, value: value.slice(), createRevision: previous?.createRevision ?? index, modRevision: index, version: (previous?.version ?? 0) + 1, lease };
    this.keys.set(key, kv, previous);
    const before = previous?.lease ?? 0;
    if (before !== lease) {
      if (before !== 0) this.keys.delete(leaseAttachmentKey(before, key));
      if (lease !== 0) this.keys.set(leaseAttachmentKey(lease, key), { key: leaseAttachmentKey(lease, key), value: EMPTY_VALUE, createRevision: index, modRevision: index, version: 1, lease: 0 });
    }
    return kv;
  }

  /** Deletes a key and its lease attachment; returns the key as it was (undefined: there was none). */
  private deleteKey(key: string): KeyValue | undefined {
    const previous = this.keys.get(key);
    if (previous === undefined) return undefined;
    this.keys.delete(key);
    if (previous.lease !== 0) this.keys.delete(leaseAttachmentKey(previous.lease, key));
    return previous;
  }

  private txn(base: CommandResultBase, txn: TxnCommand, index: number): ApplyResult {
    let succeeded = true;
    for (const compare of txn.compare) {
      if (compare.key.length === 0) return { ...base, kind: "invalid", error: "a comparison's key must not be empty" };
      const holds = txnCompares(compare, this.keys.get(compare.key));
      if (holds === undefined) return { ...base, kind: "invalid", error: `unknown compare target ${compare.target} or result ${compare.result}` };
      succeeded &&= holds;
    }
    const ops = succeeded ? txn.success : txn.failure;
    // Checked before any op runs, so a refused transaction changes nothing.
    for (const op of ops) {
      const problem = txnOpProblem(op);
      if (problem !== undefined) return { ...base, kind: "invalid", error: problem };
      if (op.op.case === "put" && op.op.value.lease !== 0n) {
        const id = leaseId(op.op.value.lease);
        if (id === undefined) return { ...base, kind: "invalid", error: `lease id ${op.op.value.lease} is out of range` };
        if (this.keys.get(leaseRecordKey(id)) === undefined) {
          return { ...base, kind: "refused", code: "not_found", error: `lease ${id} not found (it expired or was revoked); grant a new one` };
        }
      }
    }
    const results: TxnOpOutcome[] = [];
    const changes: TxnChange[] = [];
    // The reads of one transaction share one response's worth of bytes; a list past it answers "more".
    let readBytes = 0;
    for (const { op } of ops) {
      switch (op.case) {
        case "put": {
          const kv = this.put(op.value.key, op.value.value, index, op.value.lease === 0n ? 0 : Number(op.value.lease));
          results.push({ type: "put", kv });
          changes.push({ key: kv.key, kv, previous: this.replaced });
          break;
        }
        case "delete": {
          let deleted: KeyValue[];
          if (op.value.prefix || op.value.rangeEnd !== "") deleted = this.deleteRange(op.value.key, op.value.prefix, op.value.rangeEnd);
          else {
            const previous = this.deleteKey(op.value.key);
            deleted = previous === undefined ? [] : [previous];
          }
          results.push({ type: "delete", deleted: deleted.length });
          for (const previous of deleted) changes.push({ key: previous.key, kv: undefined, previous });
          break;
        }
        case "get": {
          const kv = this.keys.get(op.value);
          if (kv !== undefined) readBytes += Buffer.byteLength(kv.key, "utf8") + kv.value.byteLength;
          results.push(kv === undefined ? { type: "get" } : { type: "get", kv });
          break;
        }
        case "range": {
          const { kvs, more, count } = this.clientRange(txnRange(op.value), Math.max(0, MAX_RANGE_RESPONSE_BYTES - readBytes));
          for (const kv of kvs) readBytes += Buffer.byteLength(kv.key, "utf8") + kv.value.byteLength;
          results.push({ type: "list", kvs, more, count: count ?? 0 });
          break;
        }
      }
    }
    return { ...base, kind: "txn", succeeded, results, changes };
  }

  /** Deletes the client keys with a prefix, or in [start, rangeEnd); reserved records are never in range. */
  private deleteRange(start: string, prefix: boolean, rangeEnd: string): KeyValue[] {
    const inRange = prefix ? (key: string) => key.startsWith(start) : (key: string) => compareKeys(key, rangeEnd) < 0;
    const doomed: KeyValue[] = [];
    for (const kv of this.keys.from(start < CLIENT_KEYS_START ? CLIENT_KEYS_START : start)) {
      if (!inRange(kv.key)) break;
      doomed.push(kv);
    }
    for (const kv of doomed) this.deleteKey(kv.key);
    return doomed;
  }

  /** Deletes the lease and every key attached to it; returns those keys. */
  private revokeLease(id: number): KeyValue[] {
    const prefix = leaseKeysPrefix(id);
    const attachments: string[] = [];
    for (const kv of this.keys.from(prefix)) {
      if (!kv.key.startsWith(prefix)) break;
      attachments.push(kv.key);
    }
    const deleted: KeyValue[] = [];
    for (const attachment of attachments) {
      const key = attachment.slice(prefix.length);
      this.keys.delete(attachment);
      const kv = this.keys.get(key);
      if (kv?.lease === id && this.keys.delete(key)) deleted.push(kv);
    }
    this.keys.delete(leaseRecordKey(id));
    return deleted;
  }

  private compareAndSwap(base: CommandResultBase, cas: CompareAndSwapCommand, index: number): ApplyResult {
    const compare = cas.compare;
    if (compare === undefined) return { ...base, kind: "invalid", error: "compare-and-swap needs a comparison" };
    if (compare.key.length === 0 || cas.key.length === 0) return { ...base, kind: "invalid", error: "key must not be empty" };
    const compared = this.keys.get(compare.key);
    const succeeded = compares(compare, compared);
    if (succeeded === undefined) {
      return { ...base, kind: "invalid", error: `unknown compare target ${compare.target}` };
    }
    const previous = cas.key === compare.key ? compared : this.keys.get(cas.key);
    if (!succeeded) return { ...base, kind: "compareAndSwap", succeeded: false, ...(previous ? { previous } : {}) };
    if (cas.delete) {
      this.deleteKey(cas.key);
      return { ...base, kind: "compareAndSwap", succeeded: true, ...(previous ? { previous } : {}) };
    }
    let lease = 0;
    if (cas.lease !== 0n) {
      const id = leaseId(cas.lease);
      if (id === undefined) return { ...base, kind: "invalid", error: `lease id ${cas.lease} is out of range` };
      if (this.keys.get(leaseRecordKey(id)) === undefined) {
        return { ...base, kind: "refused", code: "not_found", error: `lease ${id} not found (it expired or was revoked); grant a new one` };
      }
      lease = id;
    }
    const kv = this.put(cas.key, cas.value, index, lease);
    return { ...base, kind: "compareAndSwap", succeeded: true, kv, ...(previous ? { previous } : {}) };
  }

  // ---- Reads (local state; linearizability is the server's job via ReadIndex) ----

  get(key: string): KeyValue | undefined {
    return this.keys.get(key);
  }

  range(options: RangeOptions = {}): RangeResult {
    let start: string;
    let inRange: (key: string) => boolean;
    if (options.prefix !== undefined) {
      assert(options.start === undefined && options.end === undefined, "range: prefix excludes start/end");
      const prefix = options.prefix;
      start = prefix;
      // Keys sharing a prefix are contiguous in UTF-8 byte order.
      inRange = (key) => key.startsWith(prefix);
    } else {
      start = options.start ?? "";
      const end = options.end;
      inRange = end === undefined || end === "" ? () => true : (key) => compareKeys(key, end) < 0;
    }
    if (options.countOnly === true) return { kvs: [], more: false, count: this.keys.countFrom(start, inRange) };
    const limit = options.limit === undefined || options.limit <= 0 ? MAX_RANGE_KEYS : Math.min(options.limit, MAX_RANGE_KEYS);
    const keysOnly = options.keysOnly === true;
    const maxBytes = Math.min(options.maxBytes ?? MAX_RANGE_RESPONSE_BYTES, MAX_RANGE_RESPONSE_BYTES);
    const kvs: KeyValue[] = [];
    let bytes = 0;
    let more = false;
    for (const kv of this.keys.from(start)) {
      const key = kv.key;
      if (!inRange(key)) break;
      const size = Buffer.byteLength(key, "utf8") + (keysOnly ? 0 : kv.value.byteLength);
      if (kvs.length === limit || bytes + size > maxBytes) {
        more = true;
        break;
      }
      bytes += size;
      kvs.push(keysOnly ? { ...kv, value: EMPTY_VALUE } : kv);
    }
    return { kvs, more };
  }

  /** range() over client keys only: dkv's own records (members, leases) are never in it. */
  clientRange(range: ClientRange, maxBytes = MAX_RANGE_RESPONSE_BYTES): RangeResult {
    const shape = { limit: range.limit, keysOnly: range.keysOnly, countOnly: range.countOnly, maxBytes };
    if (range.rangeEnd !== "") return this.range({ start: range.key < CLIENT_KEYS_START ? CLIENT_KEYS_START : range.key, end: range.rangeEnd, ...shape });
    // Every client key starts at or after CLIENT_KEYS_START, so a prefix below it matches records only.
    if (range.prefix !== "" && range.prefix < CLIENT_KEYS_START) return range.countOnly ? { kvs: [], more: false, count: 0 } : { kvs: [], more: false };
    return range.prefix === "" ? this.range({ start: CLIENT_KEYS_START, ...shape }) : this.range({ prefix: range.prefix, ...shape });
  }

  /** The lease with this id, if it exists. */
  lease(id: number): LeaseInfo | undefined {
    const record = this.keys.get(leaseRecordKey(id));
    return record === undefined ? undefined : { id, ttlSeconds: decodeLeaseTtl(record.value) };
  }

  /** Every lease (for a new leader, which gives each its whole TTL again). */
  leases(): LeaseInfo[] {
    const leases: LeaseInfo[] = [];
    for (const kv of this.keys.from(LEASE_RECORD_PREFIX)) {
      if (!kv.key.startsWith(LEASE_RECORD_PREFIX)) break;
      const id = parseLeaseRecordKey(kv.key);
      if (id !== undefined) leases.push({ id, ttlSeconds: decodeLeaseTtl(kv.value) });
    }
    return leases;
  }

  /** The keys attached to lease `id`, in key order (at most `limit`). */
  leaseKeys(id: number, limit = MAX_RANGE_KEYS): string[] {
    const prefix = leaseKeysPrefix(id);
    const keys: string[] = [];
    for (const kv of this.keys.from(prefix)) {
      if (!kv.key.startsWith(prefix) || keys.length >= limit) break;
      keys.push(kv.key.slice(prefix.length));
    }
    return keys;
  }

  /** Number of keys. */
  count(): number {
    return this.keys.size;
  }

  /** UTF-8 bytes of every key plus the bytes of every value. */
  dataBytes(): number {
    return this.keys.bytes;
  }

  /** How many bytes dataBytes() would grow by if `key` got a value of valueBytes (negative: it would shrink). */
  growthIfPut(key: string, valueBytes: number): number {
    return this.keys.growthIfSet(key, valueBytes);
  }
}

/** A uint64 lease id as a number; undefined when 0 or past MAX_LEASE_ID. */
function leaseId(id: bigint): number | undefined {
  return id > 0n && id <= BigInt(MAX_LEASE_ID) ? Number(id) : undefined;
}

function txnRange(command: RangeCommand): ClientRange {
  return {
    prefix: command.prefix ? command.key : "",
    key: command.prefix ? "" : command.key,
    rangeEnd: command.prefix ? "" : command.rangeEnd,
    limit: command.limit,
    keysOnly: command.keysOnly,
    countOnly: command.countOnly,
  };
}

function copyConf(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}

function writes(result: ApplyResult): boolean {
  switch (result.kind) {
    case "put":
      return true;
    case "delete":
      return result.deleted;
    case "compareAndSwap":
      return result.succeeded && (result.kv !== undefined || result.previous !== undefined);
    case "deleteRange":
      return result.deleted.length > 0;
    case "txn":
      return result.changes.length > 0;
    case "leaseGrant":
    case "leaseRevoke":
      return true;
    default:
      return false;
  }
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
