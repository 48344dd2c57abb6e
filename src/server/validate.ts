// Client input checked before anything is proposed: a bad key or an oversize
// value is refused with a message naming the limit, and never reaches raft.
// The limits themselves are storage's (src/storage/limits.ts).
import { MAX_LEASE_ID, validateKey as storageValidateKey, validateValue as storageValidateValue } from "../storage/index.ts";
import { NodeError, type DeleteRange, type TxnRequest } from "./contract.ts";
import { RESERVED_KEY_PREFIX } from "./members.ts";

export function validateKey(key: string): void {
  if (key.startsWith(RESERVED_KEY_PREFIX)) throw new NodeError("invalid_argument", "keys starting with a NUL byte are reserved for dkv itself");
  const problem = storageValidateKey(key);
  if (problem) throw new NodeError("invalid_argument", problem);
}

export function validateValue(value: Uint8Array): void {
  const problem = storageValidateValue(value);
  if (problem) throw new NodeError("invalid_argument", problem);
}

/** Most comparisons, and ops per branch, one transaction may have (etcd's --max-txn-ops default). */
export const MAX_TXN_OPS = 128;

/** Lease ids are 1..2^53-1; 0 means "none" where `zeroAllowed`. */
export function validateLeaseId(id: number, zeroAllowed: boolean): void {
  if (zeroAllowed && id === 0) return;
  if (!Number.isSafeInteger(id) || id < 1 || id > MAX_LEASE_ID) throw new NodeError("invalid_argument", `lease id must be from 1 to ${MAX_LEASE_ID}, got ${id}`);
}

/** A delete of one key, a prefix ("" = everything) or [key, rangeEnd). */
export function validateDeleteRange(key: string, range: DeleteRange): void {
  const rangeEnd = range.rangeEnd ?? "";
  if (range.prefix && rangeEnd !== "") throw new NodeError("invalid_argument", "give prefix or range_end, not both");
  if (!range.prefix || key !== "") validateKey(key);
  if (rangeEnd !== "") {
    validateKey(rangeEnd);
    if (Buffer.compare(Buffer.from(key), Buffer.from(rangeEnd)) >= 0) throw new NodeError("invalid_argument", `range_end ${JSON.stringify(rangeEnd)} must sort after key ${JSON.stringify(key)}`);
  }
}

/** Sizes, keys, values and lease ids of a transaction (both branches: either may run). */
export function validateTxn(request: TxnRequest): void {
  for (const [name, list] of [["compare", request.compare], ["success", request.success], ["failure", request.failure]] as const) {
    if (list.length > MAX_TXN_OPS) throw new NodeError("invalid_argument", `a transaction takes at most ${MAX_TXN_OPS} ${name} entries, got ${list.length}`);
  }
  for (const compare of request.compare) {
    validateKey(compare.key);
    if (compare.target === "value") validateValue(compare.value);
  }
  for (const op of [...request.success, ...request.failure]) {
    if (op.type === "put") {
      validateKey(op.key);
      validateValue(op.value);
      validateLeaseId(op.lease, true);
    } else if (op.type === "delete") {
      validateDeleteRange(op.key, op);
    } else if (op.type === "list") {
      validateListRange(op);
    } else {
      validateKey(op.key);
    }
  }
}

/** A list's range: a prefix (any, "" = every key), or [key, rangeEnd) with rangeEnd after key in byte order. */
export function validateListRange(range: { prefix: string; key: string; rangeEnd: string; limit: number }): void {
  if (!Number.isSafeInteger(range.limit) || range.limit < 0) throw new NodeError("invalid_argument", `limit must be 0 (none) or more, got ${range.limit}`);
  if (range.rangeEnd === "") return;
  if (range.prefix !== "") throw new NodeError("invalid_argument", "give prefix or range_end, not both");
  validateKey(range.rangeEnd);
  if (Buffer.compare(Buffer.from(range.key), Buffer.from(range.rangeEnd)) >= 0) {
    throw new NodeError("invalid_argument", `range_end ${JSON.stringify(range.rangeEnd)} must sort after key ${JSON.stringify(range.key)}`);
  }
}

/** A watch's keys: one key, a prefix ("" = every key), or [key, rangeEnd) with rangeEnd after key in byte order. */
export function validateWatchRange(query: { key: string; prefix: boolean; rangeEnd?: string }): void {
  const rangeEnd = query.rangeEnd ?? "";
  if (rangeEnd === "") {
    if (!query.prefix || query.key !== "") validateKey(query.key);
    return;
  }
  if (query.prefix) throw new NodeError("invalid_argument", "give prefix or range_end, not both");
  if (query.key !== "") validateKey(query.key);
  validateKey(rangeEnd);
  if (Buffer.compare(Buffer.from(query.key), Buffer.from(rangeEnd)) >= 0) {
    throw new NodeError("invalid_argument", `range_end ${JSON.stringify(rangeEnd)} must sort after key ${JSON.stringify(query.key)}`);
  }
}
