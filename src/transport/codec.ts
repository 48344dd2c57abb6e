// Raft messages between the consensus core's shape (src/raft/types.ts: plain
// objects, number fields) and the wire shape (dkv.raft.v1, uint64 = bigint).
// Byte fields are passed through as the same Uint8Array (no copies); objects
// are built as literals because create() walks the schema for every field.
import type * as raft from "../raft/types";
import type {
  ConfState as PbConfState,
  Entry as PbEntry,
  Message as PbMessage,
  PeerFrame,
  SnapshotMeta as PbSnapshotMeta,
} from "../gen/dkv/raft/v1/raft_pb";

const EMPTY_BYTES = new Uint8Array(0);

/** Largest index/term a number carries exactly; larger values on the wire are a protocol error. */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export class CodecError extends Error {
  override name = "CodecError";
}

export function raftToProto(message: raft.Message): PbMessage {
  const entries: PbEntry[] = new Array(message.entries.length);
  for (let i = 0; i < message.entries.length; i++) {
    const entry = message.entries[i]!;
    entries[i] = {
      $typeName: "dkv.raft.v1.Entry",
      term: BigInt(entry.term),
      index: BigInt(entry.index),
      type: entry.type as number,
      data: entry.data,
    };
  }
  return {
    $typeName: "dkv.raft.v1.Message",
    type: message.type as number,
    from: message.from,
    to: message.to,
    term: BigInt(message.term),
    logTerm: BigInt(message.logTerm),
    index: BigInt(message.index),
    entries,
    commit: BigInt(message.commit),
    reject: message.reject,
    rejectHint: BigInt(message.rejectHint),
    context: message.context,
    snapshot: message.snapshot === undefined ? undefined : snapshotMetaToProto(message.snapshot),
    snapshotOffset: BigInt(message.snapshotOffset),
    snapshotData: message.snapshotData,
    snapshotDone: message.snapshotDone,
  };
}

export function protoToRaft(message: PbMessage): raft.Message {
  const entries: raft.Entry[] = new Array(message.entries.length);
  for (let i = 0; i < message.entries.length; i++) {
    const entry = message.entries[i]!;
    entries[i] = {
      term: toNumber(entry.term, "entry term"),
      index: toNumber(entry.index, "entry index"),
      type: entry.type as number,
      data: entry.data ?? EMPTY_BYTES,
    };
  }
  const result: raft.Message = {
    type: message.type as number,
    from: message.from,
    to: message.to,
    term: toNumber(message.term, "term"),
    logTerm: toNumber(message.logTerm, "logTerm"),
    index: toNumber(message.index, "index"),
    entries,
    commit: toNumber(message.commit, "commit"),
    reject: message.reject,
    rejectHint: toNumber(message.rejectHint, "rejectHint"),
    context: message.context ?? EMPTY_BYTES,
    snapshotOffset: toNumber(message.snapshotOffset, "snapshotOffset"),
    snapshotData: message.snapshotData ?? EMPTY_BYTES,
    snapshotDone: message.snapshotDone,
  };
  if (message.snapshot !== undefined) result.snapshot = snapshotMetaFromProto(message.snapshot);
  return result;
}

/** A PeerFrame carrying one raft message. */
export function raftFrame(message: raft.Message): PeerFrame {
  return { $typeName: "dkv.raft.v1.PeerFrame", kind: { case: "raft", value: raftToProto(message) } };
}

function snapshotMetaToProto(meta: raft.SnapshotMeta): PbSnapshotMeta {
  const confState: PbConfState = {
    $typeName: "dkv.raft.v1.ConfState",
    voters: meta.confState.voters,
    learners: meta.confState.learners,
  };
  return {
    $typeName: "dkv.raft.v1.SnapshotMeta",
    index: BigInt(meta.index),
    term: BigInt(meta.term),
    confState,
    sizeBytes: BigInt(meta.sizeBytes),
  };
}

function snapshotMetaFromProto(meta: PbSnapshotMeta): raft.SnapshotMeta {
  return {
    index: toNumber(meta.index, "snapshot index"),
    term: toNumber(meta.term, "snapshot term"),
    confState: { voters: meta.confState?.voters ?? [], learners: meta.confState?.learners ?? [] },
    sizeBytes: toNumber(meta.sizeBytes, "snapshot sizeBytes"),
  };
}

function toNumber(value: bigint, field: string): number {
  if (value > MAX_SAFE) throw new CodecError(`raft message field ${field} = ${value} exceeds 2^53-1`);
  return Number(value);
}
