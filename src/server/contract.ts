// What a running node offers to the client API (src/api) and to operators:
// plain domain types, no protobuf and no HTTP. The API layer translates
// ConnectRPC requests into these calls and NodeError into Connect codes.
import type { CancelSignal } from "./cancel-signal.ts";

export type { CancelSignal } from "./cancel-signal.ts";

/** Connect error code names (the same strings travel in forwarded answers). */
export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "unavailable"
  | "deadline_exceeded"
  | "permission_denied"
  | "resource_exhausted"
  | "aborted"
  | "internal"
  | "unknown";

/** A failure a person can act on; `code` picks the Connect code. */
export class NodeError extends Error {
  override name = "NodeError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A write that may be in other members' logs and commit there, while this
 * member will not learn its outcome (it stopped): never proposed again.
 */
export class WriteOutcomeUnknown extends NodeError {
  constructor() {
    super(
      "unavailable",
      "the node stopped before this write was confirmed; it may still be applied by the other members: read before retrying a compare-and-swap or transaction",
    );
  }
}

export type ReadConsistency = "linearizable" | "serializable";

export interface KeyValue {
  key: string;
  value: Uint8Array;
  createRevision: number;
  modRevision: number;
  version: number;
  /** The lease the key is attached to; 0: none. */
  lease: number;
}

export interface ResponseHeader {
  /** Raft index of the newest write applied on the answering node. */
  revision: number;
  memberId: string;
  raftTerm: number;
}

export interface GetResult {
  kv?: KeyValue;
  header: ResponseHeader;
}

export interface ListQuery {
  /** Keys with this prefix, unless `rangeEnd` is set: then keys in [key, rangeEnd). */
  prefix: string;
  key: string;
  rangeEnd: string;
  limit: number;
  keysOnly: boolean;
  /** Count the keys in range instead of returning them. */
  countOnly?: boolean;
  consistency: ReadConsistency;
}

export interface ListResult {
  kvs: KeyValue[];
  more: boolean;
  /** With countOnly: how many keys are in range (else 0). */
  count: number;
  header: ResponseHeader;
}

export interface PutResult {
  kv: KeyValue;
  header: ResponseHeader;
}

export interface DeleteResult {
  /** At least one key was deleted. */
  deleted: boolean;
  /** Keys deleted (all in one revision). */
  deletedCount: number;
  header: ResponseHeader;
}

/** Which keys a delete takes: the key alone (neither set), every key starting with it, or [key, rangeEnd). */
export interface DeleteRange {
  prefix?: boolean;
  rangeEnd?: string;
}

export interface LeaseGrantResult {
  id: number;
  ttlSeconds: number;
  header: ResponseHeader;
}

export interface LeaseRevokeResult {
  /** Keys deleted with the lease. */
  deletedKeys: number;
  header: ResponseHeader;
}

export interface LeaseKeepAliveResult {
  id: number;
  /** The lease lives at least this long from now without another keep-alive. */
  ttlSeconds: number;
  header: ResponseHeader;
}

export interface LeaseTimeToLiveResult {
  id: number;
  grantedTtlSeconds: number;
  /** Whole seconds left; -1 when unknown (a serializable query answered off the leader, which alone times leases). */
  remainingSeconds: number;
  keys: string[];
  header: ResponseHeader;
}

export type CompareTarget = "value" | "version" | "mod_revision" | "create_revision" | "lease";

export type TxnCompareResult = "equal" | "not_equal" | "greater" | "less";

export interface TxnCompare {
  key: string;
  target: CompareTarget;
  result: TxnCompareResult;
  /** For target "value" (bytewise order). */
  value: Uint8Array;
  /** For the numeric targets (a missing key has 0). */
  number: number;
}

export type TxnOp =
  | { type: "put"; key: string; value: Uint8Array; lease: number }
  | { type: "delete"; key: string; prefix: boolean; rangeEnd: string }
  | { type: "get"; key: string }
  | ({ type: "list" } & Omit<ListQuery, "consistency">);

export type TxnOpResult =
  | { type: "put"; kv: KeyValue }
  | { type: "delete"; deleted: number }
  | { type: "get"; kv?: KeyValue }
  | { type: "list"; kvs: KeyValue[]; more: boolean; count: number };

export interface TxnRequest {
  compare: TxnCompare[];
  success: TxnOp[];
  failure: TxnOp[];
}

export interface TxnResult {
  /** Every comparison held: the success ops ran. */
  succeeded: boolean;
  results: TxnOpResult[];
  header: ResponseHeader;
}

export interface CompareAndSwap {
  compare: { key: string; target: CompareTarget; value: Uint8Array; number: number };
  key: string;
  value: Uint8Array;
  delete: boolean;
  /** The written key's lease (absent or 0: none). */
  lease?: number;
}

export interface CompareAndSwapResult {
  succeeded: boolean;
  previous?: KeyValue;
  header: ResponseHeader;
}

export interface Member {
  id: string;
  peerAddress: string;
  clientAddress: string;
  isLeader: boolean;
  isLearner: boolean;
}

export interface NodeStatus {
  memberId: string;
  clusterId: string;
  leaderId: string;
  isLeader: boolean;
  isLearner: boolean;
  raftTerm: number;
  commitIndex: number;
  appliedIndex: number;
  dbSizeBytes: number;
  version: string;
}

export interface WatchQuery {
  key: string;
  /** Every key starting with `key` ("" = all keys). */
  prefix: boolean;
  /** First revision to report; 0 = the changes after the current one. */
  startRevision: number;
  /** Also report each key as it was before the change. */
  prevKv?: boolean;
  /** The keys in [key, rangeEnd) instead (not with prefix). */
  rangeEnd?: string;
  /** Leave out puts, or deletes. */
  noPut?: boolean;
  noDelete?: boolean;
}

export interface WatchEvent {
  type: "put" | "delete";
  /** After a put, the key as stored; after a delete, the key and, in modRevision, the revision of the delete. */
  kv: KeyValue;
  /** With prevKv: the key before the change (absent when it did not exist). */
  prevKv?: KeyValue;
}

/** One message of a watch: the first has no events (the watch is in place); so do the keep-alives. */
export interface WatchBatch {
  events: WatchEvent[];
  header: ResponseHeader;
}

/** The operations the client API needs from a node. Every method may throw NodeError. */
export interface KvNode {
  get(key: string, consistency: ReadConsistency, signal?: CancelSignal): Promise<GetResult>;
  list(query: ListQuery, signal?: CancelSignal): Promise<ListResult>;
  /** `lease`: attach the key to that lease (0: no lease; a put detaches the key from the lease it had). */
  put(key: string, value: Uint8Array, signal?: CancelSignal, lease?: number): Promise<PutResult>;
  delete(key: string, signal?: CancelSignal, range?: DeleteRange): Promise<DeleteResult>;
  compareAndSwap(request: CompareAndSwap, signal?: CancelSignal): Promise<CompareAndSwapResult>;
  /** Compares, then the success or the failure ops, atomically in one revision. */
  txn(request: TxnRequest, signal?: CancelSignal): Promise<TxnResult>;
  /** `id` 0: the member picks one. */
  leaseGrant(ttlSeconds: number, id: number, signal?: CancelSignal): Promise<LeaseGrantResult>;
  /** Ends the lease and deletes every key attached to it; not_found if there is no such lease. */
  leaseRevoke(id: number, signal?: CancelSignal): Promise<LeaseRevokeResult>;
  /** Restarts the lease's TTL; not_found if it has ended. */
  leaseKeepAlive(id: number, signal?: CancelSignal): Promise<LeaseKeepAliveResult>;
  leaseTimeToLive(id: number, withKeys: boolean, consistency: ReadConsistency, signal?: CancelSignal): Promise<LeaseTimeToLiveResult>;
  /** Every lease, by id. */
  leaseList(consistency: ReadConsistency, signal?: CancelSignal): Promise<{ leases: Array<{ id: number; ttlSeconds: number }>; header: ResponseHeader }>;
  members(): Promise<Member[]>;
  addMember(id: string, peerAddress: string, clientAddress: string, learner: boolean, signal?: CancelSignal): Promise<void>;
  removeMember(id: string, signal?: CancelSignal): Promise<void>;
  /** Records new addresses for member `id` (clientAddress "" keeps the recorded one); the membership does not change. */
  updateMember(id: string, peerAddress: string, clientAddress: string, signal?: CancelSignal): Promise<void>;
  status(): Promise<NodeStatus>;
  /** Process is up. */
  isLive(): boolean;
  /** Has a leader and has applied up to the leader's commit as of a recent read index. */
  isReady(signal?: CancelSignal): Promise<{ ready: boolean; reason: string }>;
  /** Streams a consistent backup image; the last chunk carries the SHA-256 (hex) of all bytes. */
  snapshot(signal?: CancelSignal, options?: { serializable?: boolean }): AsyncIterable<{ data: Uint8Array; sha256: string; index: number; sizeBytes: number }>;
  /** Hands leadership to voter `targetId` and resolves once it leads (any member may be asked). */
  moveLeader(targetId: string, signal?: CancelSignal): Promise<{ leaderId: string; raftTerm: number }>;
  /** Prometheus text exposition of the node's metrics. */
  metricsText(): string;
  /** The changes of a key or prefix as this member applies them, until `signal` fires; ends with NodeError when the watch cannot go on. */
  watch(query: WatchQuery, signal?: CancelSignal): AsyncIterable<WatchBatch>;
}
