// The hot path: raft messages straight to and from dkv.raft.v1 wire bytes,
// without building protobuf objects or bigints. Encoding sizes the frame first
// and writes it into ONE buffer (header included); decoding returns entry data
// and other bytes fields as views into the received frame (no copies).
// Equivalent to toBinary/fromBinary of PeerFrame{raft} (tests check both ways).
import type { ConfState, Entry, Message, SnapshotMeta } from "../raft/types";
import { CodecError } from "./codec";
import { writeFrameHeader } from "./framing";
import { FRAME_HEADER_BYTES } from "./limits";
import { tag, utf8Bytes, varintBytes, WIRE_LEN, WIRE_VARINT, WireError, WireReader, writeVarint } from "./wire";

/** PeerFrame.raft */
export const PEER_FRAME_RAFT_FIELD = 1;

const EMPTY_BYTES = new Uint8Array(0);

// dkv.raft.v1.Message field numbers.
const M_TYPE = 1, M_FROM = 2, M_TO = 3, M_TERM = 4, M_LOG_TERM = 5, M_INDEX = 6, M_ENTRIES = 7, M_COMMIT = 8;
const M_REJECT = 9, M_REJECT_HINT = 10, M_CONTEXT = 11, M_SNAPSHOT = 12, M_SNAPSHOT_OFFSET = 13;
const M_SNAPSHOT_DATA = 14, M_SNAPSHOT_DONE = 15;
// dkv.raft.v1.Entry, SnapshotMeta, ConfState.
const E_TERM = 1, E_INDEX = 2, E_TYPE = 3, E_DATA = 4;
const S_INDEX = 1, S_TERM = 2, S_CONF_STATE = 3, S_SIZE_BYTES = 4;
const C_VOTERS = 1, C_LEARNERS = 2;

/** Bytes of a uint field (0 when it holds the default and is omitted). */
function uintField(value: number, field: string): number {
  if ((value >>> 0) !== value && !(Number.isSafeInteger(value) && value >= 0)) {
    throw new CodecError(`raft message field ${field} = ${value} is not an unsigned integer below 2^53`);
  }
  return value === 0 ? 0 : 1 + varintBytes(value);
}

function bytesField(length: number): number {
  return length === 0 ? 0 : 1 + varintBytes(length) + length;
}

function entrySize(entry: Entry): number {
  return (
    uintField(entry.term, "entry term") +
    uintField(entry.index, "entry index") +
    uintField(entry.type, "entry type") +
    bytesField(entry.data.length)
  );
}

function confStateSize(confState: ConfState): number {
  let size = 0;
  for (const id of confState.voters) size += repeatedStringSize(id);
  for (const id of confState.learners) size += repeatedStringSize(id);
  return size;
}

function repeatedStringSize(text: string): number {
  const length = utf8Bytes(text).length;
  return 1 + varintBytes(length) + length;
}

function snapshotMetaSize(meta: SnapshotMeta): number {
  const confSize = confStateSize(meta.confState);
  return (
    uintField(meta.index, "snapshot index") +
    uintField(meta.term, "snapshot term") +
    1 + varintBytes(confSize) + confSize +
    uintField(meta.sizeBytes, "snapshot sizeBytes")
  );
}

export function raftMessageSize(m: Message): number {
  let size =
    uintField(m.type, "type") +
    bytesField(utf8Bytes(m.from).length) +
    bytesField(utf8Bytes(m.to).length) +
    uintField(m.term, "term") +
    uintField(m.logTerm, "logTerm") +
    uintField(m.index, "index") +
    uintField(m.commit, "commit") +
    (m.reject ? 2 : 0) +
    uintField(m.rejectHint, "rejectHint") +
    bytesField(m.context.length) +
    uintField(m.snapshotOffset, "snapshotOffset") +
    bytesField(m.snapshotData.length) +
    (m.snapshotDone ? 2 : 0);
  for (const entry of m.entries) {
    const entryBytes = entrySize(entry);
    size += 1 + varintBytes(entryBytes) + entryBytes;
  }
  if (m.snapshot !== undefined) {
    const metaBytes = snapshotMetaSize(m.snapshot);
    size += 1 + varintBytes(metaBytes) + metaBytes;
  }
  return size;
}

function putUint(buf: Uint8Array, pos: number, field: number, value: number): number {
  if (value === 0) return pos;
  buf[pos++] = tag(field, WIRE_VARINT);
  return writeVarint(buf, pos, value);
}

function putBytes(buf: Uint8Array, pos: number, field: number, bytes: Uint8Array): number {
  if (bytes.length === 0) return pos;
  buf[pos++] = tag(field, WIRE_LEN);
  pos = writeVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

function putLengthPrefix(buf: Uint8Array, pos: number, field: number, length: number): number {
  buf[pos++] = tag(field, WIRE_LEN);
  return writeVarint(buf, pos, length);
}

function putSnapshotMeta(buf: Uint8Array, pos: number, meta: SnapshotMeta): number {
  pos = putUint(buf, pos, S_INDEX, meta.index);
  pos = putUint(buf, pos, S_TERM, meta.term);
  pos = putLengthPrefix(buf, pos, S_CONF_STATE, confStateSize(meta.confState));
  for (const id of meta.confState.voters) pos = putString(buf, pos, C_VOTERS, id);
  for (const id of meta.confState.learners) pos = putString(buf, pos, C_LEARNERS, id);
  return putUint(buf, pos, S_SIZE_BYTES, meta.sizeBytes);
}

/** Repeated strings are written even when empty (proto3 keeps repeated elements). */
function putString(buf: Uint8Array, pos: number, field: number, text: string): number {
  const bytes = utf8Bytes(text);
  pos = putLengthPrefix(buf, pos, field, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** Writes the Message body at pos; returns the position after it. */
function putRaftMessage(buf: Uint8Array, pos: number, m: Message): number {
  pos = putUint(buf, pos, M_TYPE, m.type);
  pos = putBytes(buf, pos, M_FROM, utf8Bytes(m.from));
  pos = putBytes(buf, pos, M_TO, utf8Bytes(m.to));
  pos = putUint(buf, pos, M_TERM, m.term);
  pos = putUint(buf, pos, M_LOG_TERM, m.logTerm);
  pos = putUint(buf, pos, M_INDEX, m.index);
  for (const entry of m.entries) {
    pos = putLengthPrefix(buf, pos, M_ENTRIES, entrySize(entry));
    pos = putUint(buf, pos, E_TERM, entry.term);
    pos = putUint(buf, pos, E_INDEX, entry.index);
    pos = putUint(buf, pos, E_TYPE, entry.type);
    pos = putBytes(buf, pos, E_DATA, entry.data);
  }
  pos = putUint(buf, pos, M_COMMIT, m.commit);
  if (m.reject) pos = putUint(buf, pos, M_REJECT, 1);
  pos = putUint(buf, pos, M_REJECT_HINT, m.rejectHint);
  pos = putBytes(buf, pos, M_CONTEXT, m.context);
  if (m.snapshot !== undefined) {
    pos = putLengthPrefix(buf, pos, M_SNAPSHOT, snapshotMetaSize(m.snapshot));
    pos = putSnapshotMeta(buf, pos, m.snapshot);
  }
  pos = putUint(buf, pos, M_SNAPSHOT_OFFSET, m.snapshotOffset);
  pos = putBytes(buf, pos, M_SNAPSHOT_DATA, m.snapshotData);
  if (m.snapshotDone) pos = putUint(buf, pos, M_SNAPSHOT_DONE, 1);
  return pos;
}

/** A complete frame (4-byte length + PeerFrame{raft: m}) in one allocation. */
export function encodeRaftFrame(m: Message): Uint8Array {
  const messageBytes = raftMessageSize(m);
  const bodyBytes = 1 + varintBytes(messageBytes) + messageBytes;
  // Unzeroed: every byte is written below (checked by the length assertion).
  const buf: Uint8Array = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  writeFrameHeader(buf, bodyBytes);
  let pos = putLengthPrefix(buf, FRAME_HEADER_BYTES, PEER_FRAME_RAFT_FIELD, messageBytes);
  pos = putRaftMessage(buf, pos, m);
  if (pos !== buf.length) throw new CodecError(`raft frame encoder wrote ${pos} of ${buf.length} bytes (size bug)`);
  return buf;
}

/** Decodes the Message occupying buf[start, end). Missing fields take proto3 defaults. */
export function decodeRaftMessage(buf: Uint8Array, start: number, end: number): Message {
  const m: Message = {
    type: 0, from: "", to: "", term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false,
    rejectHint: 0, context: EMPTY_BYTES, snapshotOffset: 0, snapshotData: EMPTY_BYTES, snapshotDone: false,
  };
  const sub = new WireReader(buf, start, end);
  // Embedded messages are read with the same reader, its end narrowed to theirs.
  while (!sub.done) {
    const key = sub.uint("message tag");
    const field = key >>> 3;
    const wireType = key & 7;
    if (!expectedWireType(field, wireType, MESSAGE_LEN_FIELDS, 15)) {
      sub.skip(wireType, `raft message field ${field}`);
      continue;
    }
    switch (field) {
      case M_TYPE: m.type = sub.uint("type"); break;
      case M_FROM: m.from = sub.string("from"); break;
      case M_TO: m.to = sub.string("to"); break;
      case M_TERM: m.term = sub.uint("term"); break;
      case M_LOG_TERM: m.logTerm = sub.uint("logTerm"); break;
      case M_INDEX: m.index = sub.uint("index"); break;
      case M_ENTRIES: {
        m.entries.push(decodeEntry(sub.enter("entry")));
        sub.leave(end);
        break;
      }
      case M_COMMIT: m.commit = sub.uint("commit"); break;
      case M_REJECT: m.reject = sub.uint("reject") !== 0; break;
      case M_REJECT_HINT: m.rejectHint = sub.uint("rejectHint"); break;
      case M_CONTEXT: m.context = sub.bytes("context"); break;
      case M_SNAPSHOT: {
        m.snapshot = decodeSnapshotMeta(sub.enter("snapshot"), m.snapshot);
        sub.leave(end);
        break;
      }
      case M_SNAPSHOT_OFFSET: m.snapshotOffset = sub.uint("snapshotOffset"); break;
      case M_SNAPSHOT_DATA: m.snapshotData = sub.bytes("snapshotData"); break;
      case M_SNAPSHOT_DONE: m.snapshotDone = sub.uint("snapshotDone") !== 0; break;
    }
  }
  return m;
}

// Bit n set: field n is length-delimited (the others of these messages are varints).
const MESSAGE_LEN_FIELDS = bits(M_FROM, M_TO, M_ENTRIES, M_CONTEXT, M_SNAPSHOT, M_SNAPSHOT_DATA);
const ENTRY_LEN_FIELDS = bits(E_DATA);
const SNAPSHOT_LEN_FIELDS = bits(S_CONF_STATE);
const CONF_STATE_LEN_FIELDS = bits(C_VOTERS, C_LEARNERS);

function bits(...fields: number[]): number {
  return fields.reduce((mask, field) => mask | (1 << field), 0);
}

/** Known field with the wire type the schema gives it? Unknown fields are skipped; a known field with the wrong type is an error. */
function expectedWireType(field: number, wireType: number, lenFields: number, maxField: number): boolean {
  if (field < 1 || field > maxField) return false;
  const expected = (lenFields & (1 << field)) !== 0 ? WIRE_LEN : WIRE_VARINT;
  if (wireType !== expected) throw new WireError(`field ${field} has wire type ${wireType}, expected ${expected}`);
  return true;
}

function decodeEntry(r: WireReader): Entry {
  const entry: Entry = { term: 0, index: 0, type: 0, data: EMPTY_BYTES };
  while (!r.done) {
    const key = r.uint("entry tag");
    const field = key >>> 3;
    if (!expectedWireType(field, key & 7, ENTRY_LEN_FIELDS, 4)) {
      r.skip(key & 7, `entry field ${field}`);
      continue;
    }
    switch (field) {
      case E_TERM: entry.term = r.uint("entry term"); break;
      case E_INDEX: entry.index = r.uint("entry index"); break;
      case E_TYPE: entry.type = r.uint("entry type"); break;
      case E_DATA: entry.data = r.bytes("entry data"); break;
    }
  }
  return entry;
}

/** Embedded messages that appear twice merge (protobuf rules), hence `into`. */
function decodeSnapshotMeta(r: WireReader, into: SnapshotMeta | undefined): SnapshotMeta {
  const meta: SnapshotMeta = into ?? { index: 0, term: 0, confState: { voters: [], learners: [] }, sizeBytes: 0 };
  while (!r.done) {
    const key = r.uint("snapshot tag");
    const field = key >>> 3;
    if (!expectedWireType(field, key & 7, SNAPSHOT_LEN_FIELDS, 4)) {
      r.skip(key & 7, `snapshot field ${field}`);
      continue;
    }
    switch (field) {
      case S_INDEX: meta.index = r.uint("snapshot index"); break;
      case S_TERM: meta.term = r.uint("snapshot term"); break;
      case S_CONF_STATE: {
        const metaEnd = r.end;
        decodeConfState(r.enter("confState"), meta.confState);
        r.leave(metaEnd);
        break;
      }
      case S_SIZE_BYTES: meta.sizeBytes = r.uint("snapshot sizeBytes"); break;
    }
  }
  return meta;
}

function decodeConfState(r: WireReader, into: ConfState): void {
  while (!r.done) {
    const key = r.uint("confState tag");
    const field = key >>> 3;
    if (!expectedWireType(field, key & 7, CONF_STATE_LEN_FIELDS, 2)) {
      r.skip(key & 7, `confState field ${field}`);
      continue;
    }
    if (field === C_VOTERS) into.voters.push(r.string("voter"));
    else into.learners.push(r.string("learner"));
  }
}
