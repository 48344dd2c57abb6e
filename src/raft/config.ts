// Defaults and validation of RaftConfig, in one place. Limits carry their units.

import type { RaftConfig } from "./types";
import { assert } from "./util";

export const DEFAULT_MAX_APPEND_BYTES = 1024 * 1024;
export const DEFAULT_MAX_INFLIGHT_APPENDS = 256;
export const DEFAULT_MAX_SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
export const DEFAULT_MAX_UNCOMMITTED_BYTES = 64 * 1024 * 1024;
/** Byte budget of committedEntries in one Ready (at least one entry is always handed out). */
export const MAX_APPLY_BYTES_PER_READY = 16 * 1024 * 1024;
/**
 * A learner is promoted (AddVoter) only if its match is within this many
 * entries of the leader's last index: a voter that is far behind would stall
 * commits until it catches up, and in a small cluster could cost availability.
 */
export const PROMOTION_MAX_LAG_ENTRIES = 64;
/** Reads held on a new leader until it commits an entry of its term. */
export const MAX_READS_BEFORE_FIRST_COMMIT = 4096;

export interface ResolvedConfig {
  electionTicks: number;
  heartbeatTicks: number;
  maxAppendBytes: number;
  maxInflightAppends: number;
  maxSnapshotChunkBytes: number;
  maxUncommittedBytes: number;
  preVote: boolean;
  checkQuorum: boolean;
}

export function resolveConfig(config: RaftConfig): ResolvedConfig {
  const resolved: ResolvedConfig = {
    electionTicks: config.electionTicks,
    heartbeatTicks: config.heartbeatTicks,
    maxAppendBytes: config.maxAppendBytes ?? DEFAULT_MAX_APPEND_BYTES,
    maxInflightAppends: config.maxInflightAppends ?? DEFAULT_MAX_INFLIGHT_APPENDS,
    maxSnapshotChunkBytes: config.maxSnapshotChunkBytes ?? DEFAULT_MAX_SNAPSHOT_CHUNK_BYTES,
    maxUncommittedBytes: config.maxUncommittedBytes ?? DEFAULT_MAX_UNCOMMITTED_BYTES,
    preVote: config.preVote ?? true,
    checkQuorum: config.checkQuorum ?? true,
  };
  assert(config.id !== "", "RaftConfig.id must not be empty");
  assert(Number.isInteger(resolved.heartbeatTicks) && resolved.heartbeatTicks >= 1, `heartbeatTicks must be a positive integer (got ${resolved.heartbeatTicks})`);
  assert(
    Number.isInteger(resolved.electionTicks) && resolved.electionTicks > resolved.heartbeatTicks,
    `electionTicks (${resolved.electionTicks}) must be an integer greater than heartbeatTicks (${resolved.heartbeatTicks})`,
  );
  assert(resolved.maxAppendBytes > 0, "maxAppendBytes must be positive");
  assert(Number.isInteger(resolved.maxInflightAppends) && resolved.maxInflightAppends > 0, "maxInflightAppends must be a positive integer");
  assert(resolved.maxSnapshotChunkBytes > 0, "maxSnapshotChunkBytes must be positive");
  assert(resolved.maxUncommittedBytes > 0, "maxUncommittedBytes must be positive");
  return resolved;
}
