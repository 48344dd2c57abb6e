// What a leader is asked to do on behalf of clients: proposals (with the
// uncommitted-bytes bound), membership changes (one at a time, only after an
// entry of its term committed), ReadIndex (§6.4) and leadership transfer (§3.10).

import { MAX_READS_BEFORE_FIRST_COMMIT, PROMOTION_MAX_LAG_ENTRIES } from "./config";
import { confChangeProblem, encodeConfChange } from "./confchange";
import { MAX_PENDING_READS, type ReadRequest } from "./read-only";
import type { Raft } from "./raft";
import { bcastHeartbeat, sendAppend } from "./replication";
import {
  type ConfChange,
  ConfChangeType,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  NONE,
  type NodeId,
  RaftError,
  Role,
} from "./types";
import { newMessage } from "./util";

function requireLeader(r: Raft, what: string): void {
  if (r.role !== Role.Leader) {
    const where = r.lead !== NONE ? `; the leader is ${r.lead}` : "; no leader is known yet";
    throw new RaftError("not_leader", `${r.id} cannot ${what}: it is not the leader${where}`, r.lead);
  }
  if (r.leadTransferee !== NONE) {
    throw new RaftError(
      "transfer_in_progress",
      `${r.id} cannot ${what}: leadership is being transferred to ${r.leadTransferee}; retry at the new leader`,
      r.leadTransferee,
    );
  }
}

function appendProposal(r: Raft, entry: Entry): { index: number; term: number } {
  const bytes = entry.data.length;
  // Always admit one proposal when nothing is pending, however large.
  if (r.uncommittedBytes > 0 && r.uncommittedBytes + bytes > r.cfg.maxUncommittedBytes) {
    throw new RaftError(
      "overloaded",
      `${r.id} has ${r.uncommittedBytes} bytes of uncommitted proposals (limit maxUncommittedBytes=${r.cfg.maxUncommittedBytes}); retry after some commit`,
      r.id,
    );
  }
  r.uncommittedBytes += bytes;
  const index = r.appendEntries([entry]);
  r.needsBroadcast = true;
  return { index, term: r.term };
}

export function propose(r: Raft, data: Uint8Array): { index: number; term: number } {
  requireLeader(r, "accept a proposal");
  return appendProposal(r, { term: 0, index: 0, type: EntryType.Normal, data });
}

export function proposeConfChange(r: Raft, cc: ConfChange): { index: number; term: number } {
  requireLeader(r, "change membership");
  const problem = confChangeProblem(r.confState, cc);
  if (problem !== undefined) throw new RaftError("bad_request", `membership change refused: ${problem}`, r.id);
  if (r.pendingConfIndex > r.log.applied) {
    throw new RaftError(
      "conf_change_pending",
      `a membership change (or an entry from before this leader's term) at index ${r.pendingConfIndex} is not applied yet (applied ${r.log.applied}); one change at a time`,
      r.id,
    );
  }
  if (r.log.term(r.log.committed) !== r.term) {
    throw new RaftError("conf_change_pending", `${r.id} has not yet committed an entry of its term ${r.term}; retry shortly`, r.id);
  }
  if (cc.type === ConfChangeType.AddVoter && r.confState.learners.includes(cc.nodeId)) {
    // Promotion only once caught up: a lagging new voter could stall commits.
    const match = r.prs.get(cc.nodeId)?.match ?? 0;
    const last = r.log.lastIndex();
    if (match + PROMOTION_MAX_LAG_ENTRIES < last) {
      throw new RaftError(
        "learner_not_caught_up",
        `learner ${cc.nodeId} holds the log up to ${match}, the leader's is at ${last} (allowed lag ${PROMOTION_MAX_LAG_ENTRIES} entries); retry when it has caught up`,
        r.id,
      );
    }
  }
  const result = appendProposal(r, { term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) });
  r.pendingConfIndex = result.index;
  return result;
}

// ---- ReadIndex ----

export function readIndex(r: Raft, context: Uint8Array): void {
  if (r.role === Role.Leader) {
    handleReadIndexRequest(r, r.id, context);
    return;
  }
  if (r.lead === NONE) {
    throw new RaftError("not_leader", `${r.id} cannot serve a linearizable read: no leader is known yet`);
  }
  const m = r.message(MessageType.ReadIndex, r.lead);
  m.context = context;
  r.send(m);
}

/** A read request on the leader, from itself or forwarded by a follower. */
export function handleReadIndexRequest(r: Raft, from: NodeId, context: Uint8Array): void {
  if (r.log.term(r.log.committed) !== r.term) {
    // Until its no-op commits, this leader's commit index may be behind the cluster's.
    if (r.readsBeforeFirstCommit.length >= MAX_READS_BEFORE_FIRST_COMMIT) {
      if (from === r.id) throw new RaftError("overloaded", `${r.id} holds ${MAX_READS_BEFORE_FIRST_COMMIT} reads until its first commit; retry`, r.id);
      return;
    }
    const m = newMessage(MessageType.ReadIndex, from, r.id, r.term);
    m.context = context;
    r.readsBeforeFirstCommit.push(m);
    return;
  }
  const request: ReadRequest = { from, context, index: r.log.committed, acks: new Set([r.id]) };
  if (r.confState.voters.length === 1 && r.isVoter(r.id)) {
    releaseReads(r, [request]);
    return;
  }
  if (r.readOnly.size >= MAX_PENDING_READS) {
    if (from === r.id) throw new RaftError("overloaded", `${r.id} has ${MAX_PENDING_READS} reads waiting for a heartbeat round; retry`, r.id);
    return;
  }
  if (r.readOnly.add(request)) bcastHeartbeat(r);
}

/** Called when the commit index moves: serve reads held until the first commit of this term. */
export function releasePendingReadsIfReady(r: Raft): void {
  if (r.role !== Role.Leader || r.readsBeforeFirstCommit.length === 0) return;
  if (r.log.term(r.log.committed) !== r.term) return;
  const held: Message[] = r.readsBeforeFirstCommit;
  r.readsBeforeFirstCommit = [];
  for (const m of held) handleReadIndexRequest(r, m.from, m.context);
}

export function releaseReads(r: Raft, requests: ReadRequest[]): void {
  for (const req of requests) {
    if (req.from === r.id) {
      r.readStates.push({ index: req.index, context: req.context });
    } else {
      const m = r.message(MessageType.ReadIndexResponse, req.from);
      m.index = req.index;
      m.context = req.context;
      r.send(m);
    }
  }
}

// ---- leadership transfer ----

export function transferLeadership(r: Raft, to: NodeId): void {
  if (r.role === Role.Leader) {
    if (!r.isVoter(to)) throw new RaftError("bad_request", `cannot transfer leadership to ${to}: it is not a voter`, r.id);
    handleTransferLeader(r, to);
    return;
  }
  if (r.lead === NONE) throw new RaftError("not_leader", `${r.id} cannot transfer leadership: no leader is known yet`);
  const m = r.message(MessageType.TransferLeader, r.lead);
  m.context = new TextEncoder().encode(to);
  r.send(m);
}

export function handleTransferLeader(r: Raft, to: NodeId): void {
  if (to === r.id || !r.isVoter(to)) return;
  if (r.leadTransferee === to) return;
  r.leadTransferee = to;
  // The transfer is abandoned if it has not finished within an election timeout.
  r.electionElapsed = 0;
  if (!maybeSendTimeoutNow(r, to)) sendAppend(r, to);
}

/** Once the transferee holds the whole log, tell it to campaign now. */
export function maybeSendTimeoutNow(r: Raft, to: NodeId): boolean {
  if (r.leadTransferee !== to) return false;
  const pr = r.prs.get(to);
  if (!pr || pr.match !== r.log.lastIndex()) return false;
  r.send(r.message(MessageType.TimeoutNow, to));
  return true;
}
