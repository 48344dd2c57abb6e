// The storage's per-entry apply results, reduced to what a waiting client is told.
import type { ApplyResult, TxnOpOutcome } from "../storage/index.ts";
import type { KeyValue } from "./contract.ts";
import { NodeError } from "./contract.ts";

export interface ApplyOutcome {
  /** CAS: the comparison held. Put/delete: true. */
  succeeded: boolean;
  previous?: KeyValue;
  current?: KeyValue;
  /** Raft index of the entry. */
  revision: number;
  /** Range delete, lease revoke: the keys deleted. */
  deletedKeys?: number;
  /** Lease grant and keep-alive: the lease's TTL. */
  ttlSeconds?: number;
  /** Txn: one outcome per op run (succeeded says which branch). */
  txnResults?: TxnOpOutcome[];
}

export function toApplyOutcome(result: ApplyResult): ApplyOutcome {
  switch (result.kind) {
    case "noop":
      return { succeeded: true, revision: result.index };
    case "put":
      return { succeeded: true, current: result.kv, revision: result.index };
    case "delete":
      // A delete's previous value is not kept; a marker says whether the key existed.
      return { succeeded: true, revision: result.index, ...(result.deleted ? { previous: DELETED_MARKER } : {}) };
    case "compareAndSwap":
      return {
        succeeded: result.succeeded,
        revision: result.index,
        ...(result.previous ? { previous: result.previous } : {}),
        ...(result.kv ? { current: result.kv } : {}),
      };
    case "leaseGrant":
    case "leaseKeepAlive":
      return { succeeded: true, revision: result.index, ttlSeconds: result.ttlSeconds };
    case "txn":
      return { succeeded: result.succeeded, revision: result.index, txnResults: result.results };
    case "deleteRange":
    case "leaseRevoke":
      return { succeeded: true, revision: result.index, deletedKeys: result.deleted.length };
    case "invalid":
      throw new NodeError("invalid_argument", result.error);
    case "refused":
      throw new NodeError(result.code, result.error);
  }
}

const DELETED_MARKER: KeyValue = { key: "", value: new Uint8Array(0), createRevision: 0, modRevision: 0, version: 0, lease: 0 };
