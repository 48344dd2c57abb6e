// The consensus core's vocabulary: the records it asks storage to keep, the
// messages it exchanges with peers, and the contract of its driver API.
// Plain objects with number fields (indexes and terms stay far below 2^53);
// src/transport converts them to and from the dkv.raft.v1 protobuf types.

export type NodeId = string;

/** "No node": no vote cast, no leader known. */
export const NONE: NodeId = "";

export enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Normal: the application's command (empty for a leader's no-op). ConfChange: encodeConfChange(). */
  data: Uint8Array;
}

/** Must be durable before any message produced with it is sent. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export enum ConfChangeType {
  AddVoter = 0,
  AddLearner = 1,
  RemoveNode = 2,
}

/** Promotion of a learner is AddVoter for a node that is already a learner. */
export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to raft (dkv keeps the member's addresses here). */
  context: Uint8Array;
}

export interface SnapshotMeta {
  /** Last log index the snapshot covers, and that entry's term. */
  index: number;
  term: number;
  /** Membership as of `index`. */
  confState: ConfState;
  /** Size of the whole image in bytes. */
  sizeBytes: number;
}

export enum MessageType {
  Unspecified = 0,
  Append = 1,
  AppendResponse = 2,
  Vote = 3,
  VoteResponse = 4,
  PreVote = 5,
  PreVoteResponse = 6,
  Heartbeat = 7,
  HeartbeatResponse = 8,
  Snapshot = 9,
  SnapshotResponse = 10,
  TimeoutNow = 11,
  ReadIndex = 12,
  ReadIndexResponse = 13,
  TransferLeader = 14,
}

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** Append: term/index of the entry before `entries`. Vote/PreVote: candidate's last log term/index. */
  logTerm: number;
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** Append rejection: where the leader should retry (fast conflict backoff). */
  rejectHint: number;
  /**
   * ReadIndex/ReadIndexResponse/Heartbeat(Response): the read's context; for
   * Vote/PreVote, CAMPAIGN_TRANSFER marks a TimeoutNow campaign;
   * TransferLeader (a follower forwarding the request): the transferee's id, UTF-8.
   */
  context: Uint8Array;
  /** Snapshot transfer: metadata and one chunk starting at snapshotOffset. */
  snapshot?: SnapshotMeta;
  snapshotOffset: number;
  snapshotData: Uint8Array;
  snapshotDone: boolean;
}

/** A chunk of an incoming snapshot: write it to the staging area before sending Ready.messages. */
export interface SnapshotChunk {
  meta: SnapshotMeta;
  offset: number;
  data: Uint8Array;
  done: boolean;
}

/** A linearizable read point: serve the read once applied >= index. */
export interface ReadState {
  index: number;
  context: Uint8Array;
}

export enum Role {
  Follower = 0,
  PreCandidate = 1,
  Candidate = 2,
  Leader = 3,
}

export interface SoftState {
  leader: NodeId;
  role: Role;
}

/**
 * What the core asks of its driver, handled in this order:
 * 1. persist `snapshotChunks` (staging), `snapshot` (install the staged image),
 *    `entries` (append; an entry at an existing index replaces it and
 *    everything after it) and `hardState`, durably (one transaction);
 * 2. send `messages`;
 * 3. apply `committedEntries` in order; serve `readStates` once applied;
 * 4. call advance().
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshotChunks: SnapshotChunk[];
  snapshot?: SnapshotMeta;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  /** True when hardState, entries, snapshot or chunks must be fsynced before messages go out. */
  mustSync: boolean;
  /**
   * Membership after applying this Ready's `snapshot` and the ConfChange
   * entries among `committedEntries` (absent when unchanged). Persist it in the
   * same transaction as the applied index (step 3); the core switches to it at
   * advance().
   */
  confState?: ConfState;
}

/**
 * The durable state as the core reads it. Implementations answer from what the
 * driver persisted; the core never writes through this interface.
 */
export interface LogStorage {
  /** Hard state and membership as of the last persist (membership as of the applied index). */
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at least one when lo < hi, stopping before maxBytes is exceeded. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of the entry at index; the snapshot's term at snapshot index; undefined if compacted away or beyond the log. */
  term(index: number): number | undefined;
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /** The newest snapshot's metadata (index 0 when there is none). */
  snapshotMeta(): SnapshotMeta;
  /** Up to maxBytes of the newest snapshot image from offset; done on the last chunk. */
  snapshotChunk(meta: SnapshotMeta, offset: number, maxBytes: number): { data: Uint8Array; done: boolean };
}

/** A seeded source of randomness; the core uses no other (no global random source). */
export interface Prng {
  /** An integer in [0, n). */
  nextInt(n: number): number;
}

export interface RaftConfig {
  id: NodeId;
  storage: LogStorage;
  prng: Prng;
  /** Ticks without hearing from a leader before an election; randomized in [t, 2t). */
  electionTicks: number;
  heartbeatTicks: number;
  /** Index the application has applied on restart (committed entries after it are handed out again). */
  applied?: number;
  /** Byte budget of the entries in one Append message. */
  maxAppendBytes?: number;
  /** Append messages in flight to one follower in replicate state. */
  maxInflightAppends?: number;
  /** Byte size of one snapshot chunk. */
  maxSnapshotChunkBytes?: number;
  /** Bytes of proposals not yet committed that the leader accepts before refusing more. */
  maxUncommittedBytes?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
}

/** Flow-control state of the leader's replication to one peer. */
export type ProgressState = "probe" | "replicate" | "snapshot";

export interface PeerProgress {
  match: number;
  next: number;
  state: ProgressState;
  isLearner: boolean;
  /** The peer answered within the current check-quorum window. */
  recentActive: boolean;
}

/** A snapshot of the core's state for status pages, tests and the simulator. */
export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  vote: NodeId;
  leader: NodeId;
  commit: number;
  applied: number;
  lastIndex: number;
  confState: ConfState;
  /** Target of a leadership transfer in progress (NONE when there is none). */
  leadTransferee: NodeId;
  /** Per peer (the leader included), only on the leader. */
  progress?: Record<NodeId, PeerProgress>;
  /** Set once a leader showed that this member lost entries it had acknowledged (see LostLog). */
  lostLog?: LostLog;
}

/**
 * A leader's heartbeat carries a commit index no higher than what this
 * member acknowledged having; one beyond our last index means entries we
 * acknowledged are gone (the data dir was wiped, replaced or rolled back).
 * Such a member may not vote: it could vote twice in a term, or for a
 * candidate missing committed entries.
 */
export interface LostLog {
  leader: NodeId;
  /** The commit index the leader sent, at most what this member had acknowledged. */
  acknowledged: number;
  lastIndex: number;
}

/** Why a proposal or request was refused at once. */
export class RaftError extends Error {
  constructor(
    readonly reason:
      | "not_leader"
      | "transfer_in_progress"
      | "conf_change_pending"
      | "overloaded"
      | "bad_request"
      /** AddVoter for a learner whose log is too far behind the leader's; retry when it has caught up. */
      | "learner_not_caught_up",
    message: string,
    /** The leader the caller may retry at, if known. */
    readonly leaderHint: NodeId = NONE,
  ) {
    super(message);
    this.name = "RaftError";
  }
}

/** Marks a Vote/PreVote sent because of TimeoutNow: it bypasses the leader-lease check. */
export const CAMPAIGN_TRANSFER = new TextEncoder().encode("transfer");
