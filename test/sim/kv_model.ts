// One node's state machine: a key-value map plus the index it has applied,
// the membership as of that index and a digest of its whole applied history.
// It is durable (as dkv's sqlite state machine is): it survives a crash as is.
// A snapshot image is this model serialized.

import { type ConfChange, ConfChangeType, type ConfState, type Entry, EntryType } from "../../src/raft/types";
import { decodeCommand, valueOfWrite } from "./command";
import { chainDigest, EMPTY_HISTORY_DIGEST, entryDigest } from "./digest";

export interface KvValue {
  value: string;
  writeId: number;
  /** Log index of the write that produced the value. */
  index: number;
}

export interface AppliedEffect {
  /** The key a Normal entry wrote, if it was a set. */
  key: string | undefined;
  /** The membership change, if the entry was one. */
  confChange: ConfChange | undefined;
  historyDigest: number;
}

interface Image {
  applied: number;
  appliedTerm: number;
  history: number;
  confState: ConfState;
  data: [string, number, number][];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class KvModel {
  applied = 0;
  appliedTerm = 0;
  history = EMPTY_HISTORY_DIGEST;
  confState: ConfState;
  private readonly data = new Map<string, KvValue>();

  constructor(confState: ConfState) {
    this.confState = { voters: [...confState.voters], learners: [...confState.learners] };
  }

  get(key: string): KvValue | undefined {
    return this.data.get(key);
  }

  /** Apply the next entry; `decode` turns a ConfChange entry's payload into the change. */
  apply(entry: Entry, decode: (data: Uint8Array) => ConfChange): AppliedEffect {
    if (entry.index !== this.applied + 1) {
      throw new Error(`kv model: applying index ${entry.index} after ${this.applied}`);
    }
    let key: string | undefined;
    let confChange: ConfChange | undefined;
    if (entry.type === EntryType.ConfChange) {
      confChange = decode(entry.data);
      this.confState = foldConfChange(this.confState, confChange);
    } else {
      const command = decodeCommand(entry.data);
      if (command !== undefined) {
        key = command.key;
        this.data.set(command.key, { value: valueOfWrite(command.writeId), writeId: command.writeId, index: entry.index });
      }
    }
    this.applied = entry.index;
    this.appliedTerm = entry.term;
    this.history = chainDigest(this.history, entry.index, entry.term, entryDigest(entry.type, entry.data));
    return { key, confChange, historyDigest: this.history };
  }

  serialize(): Uint8Array {
    const image: Image = {
      applied: this.applied,
      appliedTerm: this.appliedTerm,
      history: this.history,
      confState: this.confState,
      data: [...this.data.entries()].map(([key, v]) => [key, v.writeId, v.index]),
    };
    return encoder.encode(JSON.stringify(image));
  }

  static restore(bytes: Uint8Array): KvModel {
    const image = JSON.parse(decoder.decode(bytes)) as Image;
    const model = new KvModel(image.confState);
    model.applied = image.applied;
    model.appliedTerm = image.appliedTerm;
    model.history = image.history;
    for (const [key, writeId, index] of image.data) {
      model.data.set(key, { value: valueOfWrite(writeId), writeId, index });
    }
    return model;
  }
}

/**
 * Membership after a change, by the rule the core documents: AddVoter adds or
 * promotes; AddLearner adds a non-member; RemoveNode removes a member; a change
 * that does not apply (or would remove the last voter) changes nothing.
 */
export function foldConfChange(cs: ConfState, cc: ConfChange): ConfState {
  const isVoter = cs.voters.includes(cc.nodeId);
  const isLearner = cs.learners.includes(cc.nodeId);
  const applies =
    cc.nodeId !== "" &&
    ((cc.type === ConfChangeType.AddVoter && !isVoter) ||
      (cc.type === ConfChangeType.AddLearner && !isVoter && !isLearner) ||
      (cc.type === ConfChangeType.RemoveNode && (isLearner || (isVoter && cs.voters.length > 1))));
  if (!applies) return cs;
  const voters = cs.voters.filter((id) => id !== cc.nodeId);
  const learners = cs.learners.filter((id) => id !== cc.nodeId);
  if (cc.type === ConfChangeType.AddVoter) voters.push(cc.nodeId);
  if (cc.type === ConfChangeType.AddLearner) learners.push(cc.nodeId);
  return { voters, learners };
}

export function sameConfState(a: ConfState, b: ConfState): boolean {
  const same = (x: string[], y: string[]) => x.length === y.length && [...x].sort().join(",") === [...y].sort().join(",");
  return same(a.voters, b.voters) && same(a.learners, b.learners);
}
