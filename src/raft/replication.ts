// The leader's side of log replication: sending Appends (probe / pipelined
// replicate / chunked snapshot), heartbeats, handling the answers, and the
// §5.4.2 commit rule (count replicas only for entries of the current term).

import { committedIndex, hasQuorum } from "./quorum";
import type { Raft } from "./raft";
import type { Progress } from "./progress";
import { snapshotChunkResendTicks } from "./progress";
import { type Message, MessageType, type NodeId } from "./types";
import { assert } from "./util";
import { releasePendingReadsIfReady, releaseReads, maybeSendTimeoutNow } from "./leader-requests";

/**
 * Advance the commit index to what a quorum of voters holds, but only through
 * an entry of the current term (Figure 8). Returns whether it moved.
 */
export function maybeCommit(r: Raft): boolean {
  const index = committedIndex(r.confState.voters, (id) => r.prs.get(id)?.match ?? 0);
  if (index <= r.log.committed) return false;
  if (r.log.term(index) !== r.term) return false;
  r.log.commitTo(index);
  releasePendingReadsIfReady(r);
  return true;
}

/**
 * Send the peer what it needs next. `sendIfEmpty` sends an Append even with no
 * entries (to carry the commit index or probe); `force` ignores a full
 * in-flight window once (a heartbeat answer proves the peer is reachable).
 * Returns whether a message went out.
 */
export function sendAppend(r: Raft, to: NodeId, sendIfEmpty = true, force = false): boolean {
  const pr = r.prs.get(to);
  if (!pr || to === r.id) return false;
  if (pr.state === "snapshot") return false;
  if (pr.isPaused() && !force) return false;
  const prevIndex = pr.next - 1;
  const prevTerm = r.log.term(prevIndex);
  if (prevTerm === undefined) return sendSnapshot(r, pr);
  const windowFull = pr.state === "replicate" && pr.inflights.full();
  const lastIndex = r.log.lastIndex();
  const entries = windowFull ? [] : r.log.entries(pr.next, lastIndex + 1, r.cfg.maxAppendBytes);
  if (entries === undefined) return sendSnapshot(r, pr);
  if (entries.length === 0 && !sendIfEmpty) return false;
  const m = r.message(MessageType.Append, to);
  m.index = prevIndex;
  m.logTerm = prevTerm;
  m.entries = entries;
  m.commit = r.log.committed;
  r.send(m);
  if (entries.length > 0) pr.sentEntries(entries[entries.length - 1]!.index);
  else if (pr.state === "probe") pr.probeSent = true;
  return true;
}

/** Start sending the newest snapshot to a peer whose next entry was compacted. */
function sendSnapshot(r: Raft, pr: Progress): boolean {
  const meta = r.log.storage.snapshotMeta();
  assert(meta.index > 0, `peer ${pr.id} needs entry ${pr.next}, which was compacted, but storage has no snapshot`);
  pr.becomeSnapshot(meta);
  sendSnapshotChunk(r, pr);
  return true;
}

/** Send the chunk at pr.snapshotOffset; restart from 0 if a newer snapshot replaced the one being sent. */
export function sendSnapshotChunk(r: Raft, pr: Progress): void {
  assert(pr.state === "snapshot" && pr.snapshot, `peer ${pr.id} is not in snapshot state`);
  const current = r.log.storage.snapshotMeta();
  if (current.index !== pr.snapshot.index || current.term !== pr.snapshot.term) {
    pr.becomeSnapshot(current);
  }
  const meta = pr.snapshot!;
  const chunk = r.log.storage.snapshotChunk(meta, pr.snapshotOffset, r.cfg.maxSnapshotChunkBytes);
  const m = r.message(MessageType.Snapshot, pr.id);
  m.snapshot = meta;
  m.snapshotOffset = pr.snapshotOffset;
  m.snapshotData = chunk.data;
  m.snapshotDone = chunk.done;
  m.commit = r.log.committed;
  r.send(m);
  pr.snapshotChunkInFlight = true;
  pr.snapshotTicksSinceSend = 0;
}

/** Resend a snapshot chunk that went unanswered for a while. */
export function tickSnapshotResends(r: Raft): void {
  const resendTicks = snapshotChunkResendTicks(r.cfg.electionTicks, r.cfg.heartbeatTicks);
  for (const pr of r.prs.values()) {
    if (pr.state !== "snapshot" || !pr.snapshotChunkInFlight) continue;
    pr.snapshotTicksSinceSend++;
    if (pr.snapshotTicksSinceSend >= resendTicks) sendSnapshotChunk(r, pr);
  }
}

/** Replicate to every peer (after new entries or a commit change). */
export function bcastAppend(r: Raft): void {
  r.needsBroadcast = false;
  r.needsCommitBroadcast = false;
  for (const id of r.prs.keys()) if (id !== r.id) sendAppend(r, id, true);
}

/**
 * Called when a Ready is built: replicate what accumulated since the last one.
 * New entries go to everyone who can take them; after a commit change, peers
 * with nothing new get an empty Append carrying the commit index.
 */
export function flushBroadcast(r: Raft): void {
  if (r.needsCommitBroadcast) bcastAppend(r);
  else if (r.needsBroadcast) {
    r.needsBroadcast = false;
    for (const id of r.prs.keys()) if (id !== r.id) sendAppend(r, id, false);
  }
}

export function bcastHeartbeat(r: Raft): void {
  const context = r.readOnly.lastContext();
  for (const [id, pr] of r.prs) {
    if (id === r.id) continue;
    const m = r.message(MessageType.Heartbeat, id);
    // Never tell a peer to commit beyond what it is known to hold.
    m.commit = Math.min(pr.match, r.log.committed);
    if (context) m.context = context;
    r.send(m);
  }
}

export function handleAppendResponse(r: Raft, m: Message): void {
  const pr = r.prs.get(m.from);
  if (!pr) return;
  pr.recentActive = true;
  if (m.reject) {
    // Fast backoff: skip back over the whole conflicting term at once.
    const hint = m.logTerm > 0 ? r.log.findConflictByTerm(m.rejectHint, m.logTerm).index : m.rejectHint;
    if (pr.maybeDecrTo(m.index, hint)) {
      if (pr.state === "replicate") pr.becomeProbe();
      sendAppend(r, m.from);
    }
    return;
  }
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index)) {
    if (pr.state === "replicate") pr.inflights.freeLE(m.index);
    return;
  }
  if (pr.state === "probe") {
    pr.becomeReplicate();
  } else if (pr.state === "snapshot" && pr.match + 1 >= r.log.firstIndex()) {
    pr.becomeProbe();
    pr.becomeReplicate();
  } else if (pr.state === "replicate") {
    pr.inflights.freeLE(m.index);
  }
  if (maybeCommit(r)) {
    r.needsCommitBroadcast = true;
  } else if (wasPaused) {
    sendAppend(r, m.from, false);
  }
  // Fill the window with whatever is left.
  while (sendAppend(r, m.from, false)) {
    /* keep pipelining */
  }
  maybeSendTimeoutNow(r, m.from);
}

export function handleHeartbeatResponse(r: Raft, m: Message): void {
  const pr = r.prs.get(m.from);
  if (!pr) return;
  pr.recentActive = true;
  pr.probeSent = false;
  if (pr.match < r.log.lastIndex()) sendAppend(r, m.from, true, true);
  if (m.context.length === 0) return;
  const acks = r.readOnly.recvAck(m.from, m.context);
  if (acks && hasQuorum(r.confState.voters, (id) => acks.has(id))) {
    releaseReads(r, r.readOnly.advance(m.context));
  }
}

export function handleSnapshotResponse(r: Raft, m: Message): void {
  const pr = r.prs.get(m.from);
  if (!pr) return;
  pr.recentActive = true;
  if (pr.state !== "snapshot" || !pr.snapshot || m.index !== pr.snapshot.index) return;
  if (m.reject) {
    // The peer expects another offset (lost chunk, or it restarted): resend from there.
    pr.snapshotOffset = m.snapshotOffset;
    sendSnapshotChunk(r, pr);
    return;
  }
  if (m.snapshotOffset <= pr.snapshotOffset) return; // duplicate or late ack
  pr.snapshotOffset = m.snapshotOffset;
  sendSnapshotChunk(r, pr);
}

/** reportUnreachable: the transport could not deliver, so stop pipelining. */
export function reportUnreachable(r: Raft, id: NodeId): void {
  const pr = r.prs.get(id);
  if (pr && pr.state === "replicate") pr.becomeProbe();
}
