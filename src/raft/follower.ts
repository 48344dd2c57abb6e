// The follower's side of replication: AppendEntries (consistency check, fast
// conflict hints, truncation only at the first conflict), heartbeats, and
// receiving a snapshot chunk by chunk.

import type { Raft } from "./raft";
import { type Message, MessageType } from "./types";
import { assert } from "./util";

export function handleAppend(r: Raft, m: Message): void {
  const reply = r.message(MessageType.AppendResponse, m.from);
  if (m.index < r.log.committed) {
    // Everything up to our commit index matches any leader's log already.
    reply.index = r.log.committed;
    r.send(reply);
    return;
  }
  const lastNew = r.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
  if (lastNew !== undefined) {
    reply.index = lastNew;
    r.send(reply);
    return;
  }
  // Rejected: hint the largest index whose term is <= the leader's prevLogTerm,
  // so the leader can skip a whole conflicting term in one round trip.
  const hint = r.log.findConflictByTerm(Math.min(m.index, r.log.lastIndex()), m.logTerm);
  reply.reject = true;
  reply.index = m.index;
  reply.rejectHint = hint.index;
  reply.logTerm = hint.term;
  r.send(reply);
}

export function handleHeartbeat(r: Raft, m: Message): void {
  // The leader never sends a commit beyond our match: past our last index, acknowledged entries are gone.
  if (m.commit > r.log.lastIndex() && r.lostLog === undefined) {
    r.lostLog = { leader: m.from, acknowledged: m.commit, lastIndex: r.log.lastIndex() };
  }
  r.log.commitTo(Math.min(m.commit, r.log.lastIndex()));
  const reply = r.message(MessageType.HeartbeatResponse, m.from);
  reply.context = m.context;
  r.send(reply);
}

/**
 * One chunk of the leader's snapshot. Chunks must arrive in order from offset
 * 0; each accepted chunk goes to Ready.snapshotChunks (staged durably before
 * the ack is sent); the last one installs the snapshot.
 */
export function handleSnapshot(r: Raft, m: Message): void {
  const meta = m.snapshot;
  assert(meta !== undefined, `Snapshot message from ${m.from} carries no metadata`);
  if (meta.index <= r.log.committed) {
    // Never go backwards: we already hold everything this snapshot covers.
    r.incomingSnapshot = undefined;
    const reply = r.message(MessageType.AppendResponse, m.from);
    reply.index = r.log.committed;
    r.send(reply);
    return;
  }
  if (r.log.unstable.snapshot !== undefined) {
    // A restored snapshot awaits installation by the driver; staging another
    // image now would replace its staging area before it is installed. Stay
    // silent: the leader resends once this Ready has been handled.
    return;
  }
  if (m.snapshotOffset === 0) r.incomingSnapshot = { meta, nextOffset: 0 };
  const incoming = r.incomingSnapshot;
  const sameImage = incoming !== undefined && incoming.meta.index === meta.index && incoming.meta.term === meta.term;
  if (!sameImage || m.snapshotOffset !== incoming.nextOffset) {
    const reply = r.message(MessageType.SnapshotResponse, m.from);
    reply.index = meta.index;
    if (sameImage && m.snapshotOffset < incoming.nextOffset) {
      reply.snapshotOffset = incoming.nextOffset; // duplicate: re-acknowledge
    } else {
      reply.reject = true;
      reply.snapshotOffset = sameImage ? incoming.nextOffset : 0;
    }
    r.send(reply);
    return;
  }
  r.snapshotChunks.push({ meta, offset: m.snapshotOffset, data: m.snapshotData, done: m.snapshotDone });
  incoming.nextOffset += m.snapshotData.length;
  if (!m.snapshotDone) {
    const reply = r.message(MessageType.SnapshotResponse, m.from);
    reply.index = meta.index;
    reply.snapshotOffset = incoming.nextOffset;
    r.send(reply);
    return;
  }
  r.incomingSnapshot = undefined;
  r.log.restore(meta);
  const reply = r.message(MessageType.AppendResponse, m.from);
  reply.index = meta.index;
  r.send(reply);
}
