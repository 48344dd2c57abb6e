// Member addresses live in the replicated state machine under a reserved key
// prefix, written when a membership change applies. So every node, and every
// snapshot, agrees on who the members are and where to reach them.
import { create, toBinary } from "@bufbuild/protobuf";
import { CommandSchema } from "../gen/dkv/raft/v1/command_pb.ts";
import { ConfChangeType, type ConfChange, type ConfState } from "../raft/index.ts";
import type { Storage } from "../storage/index.ts";

/** Keys starting with NUL are the node's own; clients may not read or write them. */
export const RESERVED_KEY_PREFIX = "\u0000";
const MEMBER_KEY_PREFIX = "\u0000dkv/member/";

export interface MemberAddresses {
  peerAddress: string;
  clientAddress: string;
  /** Added as a learner on the way to becoming a voter: the leader promotes it once caught up. */
  wantsVote?: boolean;
}

export function encodeMemberContext(addresses: MemberAddresses): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(addresses));
}

function decodeMemberContext(bytes: Uint8Array): MemberAddresses | undefined {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as Partial<MemberAddresses>;
    if (typeof parsed.peerAddress !== "string") return undefined;
    return {
      peerAddress: parsed.peerAddress,
      clientAddress: typeof parsed.clientAddress === "string" ? parsed.clientAddress : "",
      wantsVote: parsed.wantsVote === true,
    };
  } catch {
    return undefined;
  }
}

/** The state-machine command that records (or forgets) a member when its conf change applies. */
export function memberRecordCommand(change: ConfChange): Uint8Array {
  const key = MEMBER_KEY_PREFIX + change.nodeId;
  if (change.type === ConfChangeType.RemoveNode) {
    return toBinary(CommandSchema, create(CommandSchema, { op: { case: "delete", value: { key } } }));
  }
  // A promotion (AddVoter for a learner) may carry no addresses: keep the recorded ones.
  const addresses = decodeMemberContext(change.context);
  if (!addresses) return new Uint8Array(0);
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "put", value: { key, value: encodeMemberContext(addresses) } } }));
}

export interface MemberInfo extends MemberAddresses {
  id: string;
  isLearner: boolean;
}

/** Members per the applied membership, with the addresses recorded for them. */
export function readMembers(store: Storage, confState: ConfState): MemberInfo[] {
  const recorded = new Map<string, MemberAddresses>();
  const { kvs } = store.kv.range({ prefix: MEMBER_KEY_PREFIX });
  for (const kv of kvs) {
    const addresses = decodeMemberContext(kv.value);
    if (addresses) recorded.set(kv.key.slice(MEMBER_KEY_PREFIX.length), addresses);
  }
  const none = { peerAddress: "", clientAddress: "" };
  return [
    ...confState.voters.map((id) => ({ id, ...(recorded.get(id) ?? none), isLearner: false })),
    ...confState.learners.map((id) => ({ id, ...(recorded.get(id) ?? none), isLearner: true })),
  ].sort((a, b) => a.id.localeCompare(b.id));
}
