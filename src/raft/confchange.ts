// Single-server membership changes: the wire form of a ConfChange entry and the
// pure rule that turns one ConfState into the next. Changes take effect when
// the entry is APPLIED (etcd-raft style), so every replica folds the same
// committed changes in the same order and reaches the same membership.

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ConfChangeSchema } from "../gen/dkv/raft/v1/raft_pb.js";
import { type ConfChange, ConfChangeType, type ConfState } from "./types";

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return toBinary(ConfChangeSchema, create(ConfChangeSchema, { type: cc.type as number, nodeId: cc.nodeId, context: cc.context }));
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  const pb = fromBinary(ConfChangeSchema, bytes);
  const type = pb.type as number;
  if (type !== ConfChangeType.AddVoter && type !== ConfChangeType.AddLearner && type !== ConfChangeType.RemoveNode) {
    throw new Error(`ConfChange has unknown type ${type}`);
  }
  return { type, nodeId: pb.nodeId, context: pb.context };
}

/**
 * Why a change cannot apply to `cs`, or undefined when it can. The leader
 * refuses such proposals; a replica applying one anyway treats it as a no-op.
 */
export function confChangeProblem(cs: ConfState, cc: ConfChange): string | undefined {
  if (cc.nodeId === "") return "ConfChange names no node";
  const isVoter = cs.voters.includes(cc.nodeId);
  const isLearner = cs.learners.includes(cc.nodeId);
  switch (cc.type) {
    case ConfChangeType.AddVoter:
      return isVoter ? `${cc.nodeId} is already a voter` : undefined;
    case ConfChangeType.AddLearner:
      if (isVoter) return `${cc.nodeId} is a voter; demoting a voter to learner is not supported (remove it first)`;
      return isLearner ? `${cc.nodeId} is already a learner` : undefined;
    case ConfChangeType.RemoveNode:
      if (!isVoter && !isLearner) return `${cc.nodeId} is not a member`;
      if (isVoter && cs.voters.length === 1) return `${cc.nodeId} is the last voter; removing it would leave no quorum`;
      return undefined;
  }
}

/** The membership after `cc`; `cs` itself when the change does not apply. */
export function applyConfChange(cs: ConfState, cc: ConfChange): ConfState {
  if (confChangeProblem(cs, cc) !== undefined) return cs;
  const voters = cs.voters.filter((id) => id !== cc.nodeId);
  const learners = cs.learners.filter((id) => id !== cc.nodeId);
  if (cc.type === ConfChangeType.AddVoter) voters.push(cc.nodeId);
  if (cc.type === ConfChangeType.AddLearner) learners.push(cc.nodeId);
  return { voters, learners };
}
