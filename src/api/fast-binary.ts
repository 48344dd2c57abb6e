// Hand-written binary codecs for the calls that dominate a busy store: Set's
// request and response. protobuf-es's fromBinary/toBinary walk the schema
// field by field, build the message through create(), and grow the response
// writer from 128 bytes (twice for a 256-byte value); these read and write
// the same bytes directly, into one buffer of the exact size. Measured with
// the put load of bench/api (64 clients, alternated pairs): a Bun.serve that
// decodes SetRequest and encodes SetResponse spent 22.7-24.2 µs of CPU per
// call with protobuf-es and 16.8-21.0 with these; with the put command's
// codec (storage/put-command-wire.ts) a cluster leader's main thread ran
// 55.3 instead of 60.6 µs per put at 256 clients (bench/compare/ab.ts).
//
// Each codec covers the common shape only and says "undefined" for anything
// else (unknown or repeated fields, a non-ASCII key, a number past 2^53,
// truncated input), so the caller falls back to protobuf-es, which keeps the
// exact behaviour - errors included - for every other input. Tests compare
// both ways against protobuf-es.
import type { DescMethodUnary } from "@bufbuild/protobuf";
import type { KeyValue, ResponseHeader, SetRequest, SetResponse } from "../gen/dkv/v1/kv_pb.js";
import { bytesFieldSize, readKeyValueLease, uintFieldSize, varintSize, writeBytesField, writeUintField, writeVarint } from "../wire/fields.js";

export interface FastBinaryCodec {
  /** The request decoded, or undefined when protobuf-es must decode it. */
  decode(bytes: Uint8Array): unknown;
  /** The response encoded, or undefined when protobuf-es must encode it. */
  encode(message: unknown): Uint8Array | undefined;
}

/** The fast codec of a method, if it has one. */
export function fastBinaryCodec(method: DescMethodUnary): FastBinaryCodec | undefined {
  if (method.parent.typeName === "dkv.v1.DkvAPI" && method.name === "Set") return SET_CODEC;
  return undefined;
}

const SET_CODEC: FastBinaryCodec = {
  decode: decodeSetRequest,
  encode: (message) => encodeSetResponse(message as SetResponse),
};

const UTF8 = new TextEncoder();

/** SetRequest{key, value, lease} from its wire bytes; undefined for any other shape. */
export function decodeSetRequest(bytes: Uint8Array): SetRequest | undefined {
  const fields = readKeyValueLease(bytes, 0, bytes.length);
  return fields === undefined ? undefined : { $typeName: "dkv.v1.SetRequest", key: fields.key, value: fields.value, lease: fields.lease };
}

/** SetResponse{header, kv} as protobuf-es writes it; undefined for anything this does not cover. */
export function encodeSetResponse(message: SetResponse): Uint8Array | undefined {
  const header = message.header;
  const kv = message.kv;
  if (header === undefined || kv === undefined || hasUnknown(message) || hasUnknown(header) || hasUnknown(kv)) return undefined;
  const h = headerFields(header);
  const k = keyValueFields(kv);
  if (h === undefined || k === undefined) return undefined;
  const headerSize = h.size;
  const kvSize = k.size;
  const out = new Uint8Array(1 + varintSize(headerSize) + headerSize + 1 + varintSize(kvSize) + kvSize);
  let pos = 0;
  out[pos++] = 0x0a;
  pos = writeVarint(out, pos, headerSize);
  pos = writeUintField(out, pos, 0x08, h.revision);
  pos = writeBytesField(out, pos, 0x12, h.memberId);
  pos = writeUintField(out, pos, 0x18, h.raftTerm);
  out[pos++] = 0x12;
  pos = writeVarint(out, pos, kvSize);
  pos = writeBytesField(out, pos, 0x0a, k.key);
  pos = writeBytesField(out, pos, 0x12, kv.value);
  pos = writeUintField(out, pos, 0x18, k.createRevision);
  pos = writeUintField(out, pos, 0x20, k.modRevision);
  pos = writeUintField(out, pos, 0x28, k.version);
  pos = writeUintField(out, pos, 0x30, k.lease);
  return pos === out.length ? out : undefined;
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
  return value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}
