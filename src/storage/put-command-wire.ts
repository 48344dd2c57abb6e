// The put command - nearly every entry of a busy log - written and read by
// hand: Command{put: PutCommand{key, value, lease}} and nothing else. Every
// member decodes every entry it applies, and protobuf-es's fromBinary builds
// it through the schema (create() per message, a reader object); the leader
// encodes each one, through a writer that starts at 128 bytes and grows
// twice for a 256-byte value. These read and write the same bytes directly.
//
// Anything else (other commands, unknown or repeated fields, a non-ASCII
// key, numbers past 2^49, ill-formed text) is left to protobuf-es: the
// decoder says undefined, the encoder too. Tests compare both with it.
import type { Command, PutCommand } from "../gen/dkv/raft/v1/command_pb";
import { bytesFieldSize, readKeyValueLease, readVarint, varintEnd, varintBytes, writeBytesField, writeVarint } from "../wire/fields";

const TAG_PUT = 0x0a; // Command.put: field 1, length-delimited
const TAG_KEY = 0x0a; // PutCommand.key: field 1, length-delimited
const TAG_VALUE = 0x12; // PutCommand.value: field 2, length-delimited
const TAG_LEASE = 0x18; // PutCommand.lease: field 3, varint
const UTF8_ENCODER = new TextEncoder();

/** A put command from its wire bytes, or undefined when protobuf-es must decode them. */
export function decodePutCommand(data: Uint8Array): Command | undefined {
  if (data.length < 2 || data[0] !== TAG_PUT) return undefined;
  const length = readVarint(data, 1);
  if (length === undefined || varintEnd + length !== data.length) return undefined;
  const put = readKeyValueLease(data, varintEnd, data.length);
  if (put === undefined) return undefined;
  const value: PutCommand = { $typeName: "dkv.raft.v1.PutCommand", key: put.key, value: put.value, lease: put.lease };
  return { $typeName: "dkv.raft.v1.Command", op: { case: "put", value }, clientId: "", requestId: 0n };
}

/** The bytes protobuf-es writes for Command{put: {key, value, lease}}, or undefined when it must write them. */
export function encodePutCommand(key: string, value: Uint8Array, lease: number): Uint8Array | undefined {
  if (!Number.isSafeInteger(lease) || lease < 0 || !key.isWellFormed()) return undefined;
  const keyBytes = UTF8_ENCODER.encode(key);
  const putSize = bytesFieldSize(keyBytes.length) + bytesFieldSize(value.length) + (lease === 0 ? 0 : 1 + varintBytes(lease));
  const out = new Uint8Array(1 + varintBytes(putSize) + putSize);
  out[0] = TAG_PUT;
  let pos = writeVarint(out, 1, putSize);
  pos = writeBytesField(out, pos, TAG_KEY, keyBytes);
  pos = writeBytesField(out, pos, TAG_VALUE, value);
  if (lease !== 0) {
    out[pos++] = TAG_LEASE;
    pos = writeVarint(out, pos, lease);
  }
  return out;
}
