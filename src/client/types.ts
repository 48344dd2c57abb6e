// The client's domain types: plain objects with numbers (revisions fit well
// within 2^53), bytes as Uint8Array. No protobuf types leak out of the client.

export type Consistency = "linearizable" | "serializable";

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
  /** Raft index of the newest write the answering node had applied. */
  revision: number;
  memberId: string;
  raftTerm: number;
}

export interface GetResult {
  /** Absent when the key does not exist. */
  kv?: KeyValue;
  header: ResponseHeader;
}

export type TxnCompareTarget = "value" | "version" | "mod_revision" | "create_revision" | "lease";
export type TxnCompareResult = "equal" | "not_equal" | "greater" | "less";

export interface TxnCompare {
  key: string;
  target: TxnCompareTarget;
  /** Default "equal". */
  result?: TxnCompareResult;
  /** For target "value". */
  value?: string | Uint8Array;
  /** For the numeric targets (a missing key has 0). */
  number?: number;
}

export type TxnOp =
  | { put: { key: string; value: string | Uint8Array; lease?: number } }
  | { delete: { key: string; prefix?: boolean; rangeEnd?: string } }
  | { get: { key: string } }
  | { list: Omit<ListOptions, "consistency"> };

export type TxnOpResult =
  | { put: { kv: KeyValue } }
  | { delete: { deletedCount: number } }
  | { get: { kv?: KeyValue } }
  | { list: { kvs: KeyValue[]; more: boolean; count: number } };

export interface TxnRequest {
  compare?: TxnCompare[];
  success?: TxnOp[];
  failure?: TxnOp[];
}

export interface TxnResult {
  /** Every comparison held: the success ops ran. */
  succeeded: boolean;
  /** One per op of the branch that ran. */
  results: TxnOpResult[];
  header: ResponseHeader;
}

export interface LeaseGrantResult {
  id: number;
  ttlSeconds: number;
  header: ResponseHeader;
}

export interface LeaseKeepAliveResult {
  id: number;
  /** The lease lives at least this long from now without another keep-alive. */
  ttlSeconds: number;
  header: ResponseHeader;
}

export interface LeaseRevokeResult {
  /** Keys deleted with the lease. */
  deletedKeys: number;
  header: ResponseHeader;
}

export interface LeaseTimeToLiveResult {
  id: number;
  grantedTtlSeconds: number;
  /** Whole seconds left; -1 when the member that answered was not the leader. */
  remainingSeconds: number;
  keys: string[];
  header: ResponseHeader;
}

export interface ListOptions {
  /** Keys starting with prefix (not with rangeEnd). */
  prefix?: string;
  /** With rangeEnd: keys in [key, rangeEnd). */
  key?: string;
  rangeEnd?: string;
  /** 0 or absent: the server's own limit. */
  limit?: number;
  keysOnly?: boolean;
  /** Only count the keys in range (ListResult.count); no keys come back. */
  countOnly?: boolean;
  consistency?: Consistency;
}

export interface ListResult {
  kvs: KeyValue[];
  /** More keys matched than were returned. */
  more: boolean;
  /** With countOnly: how many keys are in range (else 0). */
  count: number;
  header: ResponseHeader;
}

export interface PutResult {
  kv?: KeyValue;
  header: ResponseHeader;
}

export interface DeleteResult {
  /** At least one key was deleted. */
  deleted: boolean;
  /** Keys deleted (all in one revision). */
  deletedCount: number;
  header: ResponseHeader;
}

export interface DeleteOptions {
  /** Delete every key starting with the key ("" = every key). */
  prefix?: boolean;
  /** Delete the keys in [key, rangeEnd). */
  rangeEnd?: string;
}

/** What the key must look like for the swap to happen; revision/version 0 means "does not exist". */
export type Expectation =
  | { value: string | Uint8Array }
  | { modRevision: number }
  | { version: number }
  | { createRevision: number }
  | { absent: true };

export interface CompareAndSwapRequest {
  key: string;
  expect: Expectation;
  /** The key to compare, when not the key written. */
  compareKey?: string;
  /** The new value; ignored when delete is true. */
  value?: string | Uint8Array;
  delete?: boolean;
  /** Attach the written key to this lease (from leaseGrant). */
  lease?: number;
}

export interface CompareAndSwapResult {
  succeeded: boolean;
  /** The compared key before the operation; absent when it did not exist. */
  previous?: KeyValue;
  header: ResponseHeader;
}

export interface Member {
  id: string;
  peerAddress: string;
  /** Advertised client address ("" when the member has not told us one). */
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

export interface EndpointStatus {
  endpoint: string;
  status?: NodeStatus;
  /** Why this endpoint did not answer. */
  error?: string;
}

export interface MemberHealth {
  id: string;
  endpoint: string;
  isLearner: boolean;
  answered: boolean;
  isLeader: boolean;
  error?: string;
}

export interface HealthReport {
  healthy: boolean;
  /** One line: why healthy or why not. */
  reason: string;
  leaderId?: string;
  votersTotal: number;
  votersAnswering: number;
  members: MemberHealth[];
}

export interface SnapshotSaveResult {
  path: string;
  sizeBytes: number;
  sha256: string;
  /** Raft index the snapshot covers. */
  index: number;
  endpoint: string;
}

export interface WatchOptions {
  /** Every key that starts with the given key ("" = all keys). */
  prefix?: boolean;
  /** First revision to report (it must still be in the member's history); default: changes after now. */
  startRevision?: number;
  /** Also report each key as it was before the change (WatchEvent.prevKv). */
  prevKv?: boolean;
  /** Watch the keys in [key, rangeEnd) instead (not with prefix). */
  rangeEnd?: string;
  /** Leave out puts, or deletes. */
  noPut?: boolean;
  noDelete?: boolean;
  /** Ends the watch. */
  signal?: AbortSignal;
}

export interface WatchEvent {
  type: "put" | "delete";
  /** After a put, the key as stored; after a delete, the key and, in modRevision, the revision of the delete. */
  kv: KeyValue;
  /** With prevKv: the key before the change (absent when it did not exist). */
  prevKv?: KeyValue;
}

/** One message of a watch. The first has no events (the watch is in place); so do the keep-alives. */
export interface WatchBatch {
  events: WatchEvent[];
  header: ResponseHeader;
}
