// Hand-written binary codecs for the calls that dominate a busy store: Set's
// and Get's requests and responses. protobuf-es's fromBinary/toBinary walk the schema
// field by field, build the message through create(), and grow the response
// writer from 128 bytes (twice for a 256-byte value); these read and write
// the same bytes directly, into one buffer of the exact size. Measured with
// the put load of bench/api (64 clients, alternated pairs): a Bun.serve that
// decodes SetRequest and encodes SetResponse spent 22.7-24.2 µs of CPU per
// call with protobuf-es and 16.8-21.0 with these; with the put command's
// codec (storage/put-command-wire.ts) a cluster leader's main thread ran
// 55.3 instead of 60.6 µs per put at 256 clients (bench/compare/ab.ts). In a
// tight loop (warm JIT, no other work) decoding and encoding one call costs
// 0.95 -> 0.42 µs for Set and 1.28 -> 0.44 for Get, whose response carries the
// value twice; in a busy server the difference is larger (cold caches, and
// the collector's share of the garbage protobuf-es leaves).
//
// Each codec covers the common shape only and says "undefined" for anything
// else (unknown or repeated fields, a non-ASCII key, a number past 2^53,
// truncated input), so the caller falls back to protobuf-es, which keeps the
// exact behaviour - errors included - for every other input. Tests compare
// both ways against protobuf-es.
import type { DescMethodUnary } from "@bufbuild/protobuf";
import { Consistency, type GetRequest, type GetResponse, type KeyValue, type ResponseHeader, type SetRequest, type SetResponse } from "../gen/dkv/v1/kv_pb.js";
import {
  asciiText,
  bytesFieldSize,
  readKeyValueLease,
  readVarint,
  uintFieldSize,
  varintEnd,
  varintBytes,
  writeBytesField,
  writeUintField,
  writeVarint,
} from "../wire/fields.js";

export interface FastBinaryCodec {
  /** The request decoded, or undefined when protobuf-es must decode it. */
  decode(bytes: Uint8Array): unknown;
  /** The response encoded, or undefined when protobuf-es must encode it. */
  encode(message: unknown): Uint8Array | undefined;
}

/** The fast codec of a method, if it has one. */
export function fastBinaryCodec(method: DescMethodUnary): FastBinaryCodec | undefined {
  if (method.parent.typeName !== "dkv.v1.DkvAPI") return undefined;
  if (method.name === "Set") return SET_CODEC;
  if (method.name === "Get") return GET_CODEC;
  return undefined;
}

const SET_CODEC: FastBinaryCodec = {
  decode: decodeSetRequest,
  encode: (message) => encodeSetResponse(message as SetResponse),
};

const GET_CODEC: FastBinaryCodec = {
  decode: decodeGetRequest,
  encode: (message) => encodeGetResponse(message as GetResponse),
};

const UTF8 = new TextEncoder();
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);

/** SetRequest{key, value, lease} from its wire bytes; undefined for any other shape. */
export function decodeSetRequest(bytes: Uint8Array): SetRequest | undefined {
  const fields = readKeyValueLease(bytes, 0, bytes.length);
  return fields === undefined ? undefined : { $typeName: "dkv.v1.SetRequest", key: fields.key, value: fields.value, lease: fields.lease };
}

/** SetResponse{header = 1, kv = 2} as protobuf-es writes it; undefined for anything this does not cover. */
export function encodeSetResponse(message: SetResponse): Uint8Array | undefined {
  const header = message.header;
  const kv = message.kv;
  if (header === undefined || kv === undefined || hasUnknown(message) || hasUnknown(header) || hasUnknown(kv)) return undefined;
  const h = headerFields(header);
  const k = keyValueFields(kv);
  if (h === undefined || k === undefined) return undefined;
  const out = new Uint8Array(messageFieldSize(h.size) + messageFieldSize(k.size));
  let pos = writeHeader(out, 0, 0x0a, h);
  pos = writeKeyValue(out, pos, 0x12, k, kv.value);
  return pos === out.length ? out : undefined;
}

const TAG_GET_KEY = 0x0a; // GetRequest.key: field 1, length-delimited
const TAG_GET_CONSISTENCY = 0x10; // GetRequest.consistency: field 2, varint

/** GetRequest{key, consistency} from its wire bytes; undefined for any other shape (an unknown consistency number too). */
export function decodeGetRequest(bytes: Uint8Array): GetRequest | undefined {
  let key = "";
  let consistency = Consistency.LINEARIZABLE;
  let seen = 0;
  let pos = 0;
  while (pos < bytes.length) {
    const tag = bytes[pos++]!;
    const bit = tag === TAG_GET_KEY ? 1 : tag === TAG_GET_CONSISTENCY ? 2 : 0;
    if (bit === 0 || (seen & bit) !== 0) return undefined;
    seen |= bit;
    const number = readVarint(bytes, pos);
    if (number === undefined) return undefined;
    pos = varintEnd;
    if (tag === TAG_GET_CONSISTENCY) {
      if (number !== Consistency.LINEARIZABLE && number !== Consistency.SERIALIZABLE) return undefined;
      consistency = number;
      continue;
    }
    const stop = pos + number;
    if (stop > bytes.length) return undefined;
    const text = asciiText(bytes, pos, stop);
    if (text === undefined) return undefined;
    key = text;
    pos = stop;
  }
  return { $typeName: "dkv.v1.GetRequest", key, consistency };
}

/** GetResponse{value = 1, found = 2, kv = 3, header = 4} as protobuf-es writes it; undefined for anything this does not cover. */
export function encodeGetResponse(message: GetResponse): Uint8Array | undefined {
  const header = message.header;
  const kv = message.kv;
  if (header === undefined || hasUnknown(message) || hasUnknown(header) || (kv !== undefined && hasUnknown(kv))) return undefined;
  const h = headerFields(header);
  const k = kv === undefined ? undefined : keyValueFields(kv);
  if (h === undefined || (kv !== undefined && k === undefined)) return undefined;
  const size = bytesFieldSize(message.value.length) + (message.found ? 2 : 0) + (k === undefined ? 0 : messageFieldSize(k.size)) + messageFieldSize(h.size);
  const out = new Uint8Array(size);
  let pos = writeBytesField(out, 0, 0x0a, message.value);
  if (message.found) {
    out[pos++] = 0x10;
    out[pos++] = 1;
  }
  if (k !== undefined) pos = writeKeyValue(out, pos, 0x1a, k, kv!.value);
  pos = writeHeader(out, pos, 0x22, h);
  return pos === out.length ? out : undefined;
}

/** A present submessage field: tag, length, body (written even when the body is empty). */
function messageFieldSize(bodySize: number): number {
  return 1 + varintBytes(bodySize) + bodySize;
}

type HeaderFields = NonNullable<ReturnType<typeof headerFields>>;
type KeyValueFields = NonNullable<ReturnType<typeof keyValueFields>>;

function writeHeader(out: Uint8Array, pos: number, tag: number, h: HeaderFields): number {
  out[pos++] = tag;
  pos = writeVarint(out, pos, h.size);
  pos = writeUintField(out, pos, 0x08, h.revision);
  pos = writeBytesField(out, pos, 0x12, h.memberId);
  return writeUintField(out, pos, 0x18, h.raftTerm);
}

function writeKeyValue(out: Uint8Array, pos: number, tag: number, k: KeyValueFields, value: Uint8Array): number {
  out[pos++] = tag;
  pos = writeVarint(out, pos, k.size);
  pos = writeBytesField(out, pos, 0x0a, k.key);
  pos = writeBytesField(out, pos, 0x12, value);
  pos = writeUintField(out, pos, 0x18, k.createRevision);
  pos = writeUintField(out, pos, 0x20, k.modRevision);
  pos = writeUintField(out, pos, 0x28, k.version);
  return writeUintField(out, pos, 0x30, k.lease);
}

function hasUnknown(message: object): boolean {
  const unknown = (message as { $unknown?: unknown[] }).$unknown;
  return unknown !== undefined && unknown.length > 0;
}

function headerFields(header: ResponseHeader): { size: number; revision: number; memberId: Uint8Array; raftTerm: number } | undefined {
  const revision = safeNumber(header.revision);
  const raftTerm = safeNumber(header.raftTerm);
  if (revision === undefined || raftTerm === undefined) return undefined;
  const memberId = UTF8.encode(header.memberId);
  return { size: uintFieldSize(revision) + bytesFieldSize(memberId.length) + uintFieldSize(raftTerm), revision, memberId, raftTerm };
}

function keyValueFields(
  kv: KeyValue,
): { size: number; key: Uint8Array; createRevision: number; modRevision: number; version: number; lease: number } | undefined {
  const createRevision = safeNumber(kv.createRevision);
  const modRevision = safeNumber(kv.modRevision);
  const version = safeNumber(kv.version);
  const lease = safeNumber(kv.lease);
  if (createRevision === undefined || modRevision === undefined || version === undefined || lease === undefined) return undefined;
  const key = UTF8.encode(kv.key);
  const size =
    bytesFieldSize(key.length) + bytesFieldSize(kv.value.length) + uintFieldSize(createRevision) + uintFieldSize(modRevision) + uintFieldSize(version) + uintFieldSize(lease);
  return { size, key, createRevision, modRevision, version, lease };
}

/** A uint64 field's value as a number, when it is one exactly. */
function safeNumber(value: bigint): number | undefined {
  return value >= 0n && value <= MAX_SAFE_BIGINT ? Number(value) : undefined;
}
