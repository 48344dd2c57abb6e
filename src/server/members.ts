// Member addresses live in the replicated state machine under a reserved key
// prefix, written when a membership change applies. So every node, and every
// snapshot, agrees on who the members are and where to reach them.
import { create, toBinary } from "@bufbuild/protobuf";
import { CommandSchema } from "../gen/dkv/raft/v1/command_pb.ts";
import { ConfChangeType, type ConfChange, type ConfState } from "../raft/index.ts";
import type { Storage } from "../storage/index.ts";
import type { NodeConfig } from "./config.ts";
import { NodeError } from "./contract.ts";

/** Keys starting with NUL are the node's own; clients may not read or write them. */
export const RESERVED_KEY_PREFIX = "\u0000";
const MEMBER_KEY_PREFIX = "\u0000dkv/member/";

export interface MemberAddresses {
  peerAddress: string;
  clientAddress: string;
  /** Added as a learner on the way to becoming a voter: the leader promotes it once caught up. */
  wantsVote?: boolean;
  /** Tombstone: the member was removed; the join loop never adds it back on its own. */
  removed?: boolean;
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
      removed: parsed.removed === true,
    };
  } catch {
    return undefined;
  }
}

/**
 * The state-machine command that records a member when its conf change
 * applies. A removal leaves a tombstone, so a removed member that is still
 * running is not added back by the join loop of a new cluster.
 */
export function memberRecordCommand(change: ConfChange, previous?: MemberAddresses): Uint8Array {
  const key = MEMBER_KEY_PREFIX + change.nodeId;
  if (change.type === ConfChangeType.RemoveNode) {
    const tombstone = { peerAddress: previous?.peerAddress ?? "", clientAddress: previous?.clientAddress ?? "", removed: true };
    return toBinary(CommandSchema, create(CommandSchema, { op: { case: "put", value: { key, value: encodeMemberContext(tombstone) } } }));
  }
  // A promotion (AddVoter for a learner) may carry no addresses: keep the recorded ones.
  const addresses = decodeMemberContext(change.context);
  if (!addresses) return new Uint8Array(0);
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "put", value: { key, value: encodeMemberContext(addresses) } } }));
}

/** A write to a member record (an update of its addresses): the members re-read who is where. */
export function isMemberRecordKey(key: string): boolean {
  return key.startsWith(MEMBER_KEY_PREFIX);
}

/**
 * The command that records new addresses for member `id` (an empty
 * clientAddress keeps the recorded one), keeping the rest of its record.
 */
export function memberAddressesCommand(store: Storage, id: string, peerAddress: string, clientAddress: string): Uint8Array {
  const key = MEMBER_KEY_PREFIX + id;
  const stored = store.kv.get(key);
  const previous = stored ? decodeMemberContext(stored.value) : undefined;
  const record: MemberAddresses = { ...previous, peerAddress, clientAddress: clientAddress || (previous?.clientAddress ?? "") };
  return toBinary(CommandSchema, create(CommandSchema, { op: { case: "put", value: { key, value: encodeMemberContext(record) } } }));
}

/** A peer or client address a member record may hold: host:port or [ipv6]:port. */
export function checkMemberAddress(address: string, what = "peer address"): void {
  if (!/^[^\s:]+:\d{1,5}$/.test(address) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(address)) {
    throw new NodeError("invalid_argument", `${what} "${address}" must be host:port`);
  }
}

/**
 * The others dial the addresses the cluster recorded for a member (at
 * bootstrap, member add or member update), not what it advertises now: a
 * member moved to another address is cut off without a word unless it says so.
 */
export function movedMemberWarnings(own: MemberAddresses, config: Pick<NodeConfig, "name" | "advertisePeerAddress" | "advertiseClientAddress">): string[] {
  const warnings: string[] = [];
  if (own.peerAddress && own.peerAddress !== config.advertisePeerAddress) {
    warnings.push(
      `the cluster records this member's peer address as ${own.peerAddress}, but it now advertises ${config.advertisePeerAddress} (--advertise-peer-address): ` +
        `the other members dial ${own.peerAddress}; if that no longer reaches this member, record the new one: dkv member update ${config.name} ${config.advertisePeerAddress}`,
    );
  }
  if (own.clientAddress && own.clientAddress !== config.advertiseClientAddress) {
    warnings.push(
      `the cluster records this member's client address as ${own.clientAddress}, but it now advertises ${config.advertiseClientAddress}: ` +
        `clients that discover members are sent to ${own.clientAddress} (dkv member update ${config.name} PEER_ADDR --client-addr ${config.advertiseClientAddress})`,
    );
  }
  return warnings;
}

export interface MemberInfo extends MemberAddresses {
  id: string;
  isLearner: boolean;
}

/** Every member record by member id: one pass over the reserved prefix. */
function readRecords(store: Storage): Map<string, MemberAddresses> {
  const recorded = new Map<string, MemberAddresses>();
  for (const kv of store.kv.range({ prefix: MEMBER_KEY_PREFIX }).kvs) {
    const addresses = decodeMemberContext(kv.value);
    if (addresses) recorded.set(kv.key.slice(MEMBER_KEY_PREFIX.length), addresses);
  }
  return recorded;
}

/** Ids of members that were removed (their tombstones). */
export function readRemovedMembers(store: Storage): Set<string> {
  return new Set([...readRecords(store)].filter(([, record]) => record.removed).map(([id]) => id));
}

/**
 * Members per the applied membership, with the addresses recorded for them,
 * and the members removed for good: tombstones of ids not in the membership
 * (one added back under its name counts as a member again).
 */
export function readMembers(store: Storage, confState: ConfState): { members: MemberInfo[]; removed: Set<string> } {
  const recorded = readRecords(store);
  const none = { peerAddress: "", clientAddress: "" };
  const members = [
    ...confState.voters.map((id) => ({ id, ...(recorded.get(id) ?? none), isLearner: false })),
    ...confState.learners.map((id) => ({ id, ...(recorded.get(id) ?? none), isLearner: true })),
  ].sort((a, b) => a.id.localeCompare(b.id));
  const inConf = new Set(members.map((m) => m.id));
  const removed = new Set([...recorded].filter(([id, record]) => record.removed && !inConf.has(id)).map(([id]) => id));
  return { members, removed };
}
