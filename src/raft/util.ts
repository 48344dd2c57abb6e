// Small helpers shared by the consensus core: loud invariant checks, message
// construction with every field defaulted, and byte accounting for entries.

import { type ConfState, type Entry, type Message, MessageType, type NodeId } from "./types";

/** A broken invariant in the core: stop loudly rather than corrupt the log. */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RaftInvariantError";
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new RaftInvariantError(message);
}

export const EMPTY_BYTES: Uint8Array = new Uint8Array(0);

/** Fixed per-entry cost counted on top of the payload (term, index, type, framing). */
export const ENTRY_OVERHEAD_BYTES = 24;

export function entryBytes(entry: Entry): number {
  return entry.data.length + ENTRY_OVERHEAD_BYTES;
}

export function newMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return {
    type,
    from,
    to,
    term,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
    snapshotOffset: 0,
    snapshotData: EMPTY_BYTES,
    snapshotDone: false,
  };
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function copyConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

export function confStateEqual(a: ConfState, b: ConfState): boolean {
  const same = (x: NodeId[], y: NodeId[]) => {
    if (x.length !== y.length) return false;
    const ys = [...y].sort();
    return [...x].sort().every((v, i) => v === ys[i]);
  };
  return same(a.voters, b.voters) && same(a.learners, b.learners);
}

export function isVoteMessage(type: MessageType): boolean {
  return type === MessageType.Vote || type === MessageType.PreVote;
}
