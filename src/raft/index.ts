// The consensus core's public surface: the driver API, in-memory storage and
// the ConfChange codec. Everything else in src/raft is internal.

export * from "./types";
export { RaftNode } from "./node";
export { MemoryStorage } from "./memory-storage";
export { encodeConfChange, decodeConfChange } from "./confchange";
export { RaftInvariantError } from "./util";
export {
  DEFAULT_MAX_APPEND_BYTES,
  DEFAULT_MAX_INFLIGHT_APPENDS,
  DEFAULT_MAX_SNAPSHOT_CHUNK_BYTES,
  DEFAULT_MAX_UNCOMMITTED_BYTES,
  PROMOTION_MAX_LAG_ENTRIES,
} from "./config";
