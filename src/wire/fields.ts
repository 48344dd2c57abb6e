// Protobuf wire primitives for the hand-written codecs of the hot paths
// (api/fast-binary.ts: Set's and Get's requests and responses;
// storage/put-command-wire.ts: the put command in raft entries;
// transport/raft-wire.ts: raft messages, whose reader lives in transport/wire.ts). A leaf: it imports nothing, so any room may
// use it. Readers cover the common shape only and answer undefined for the rest
// (padded or long varints, non-ASCII text), which the callers hand to protobuf-es.

/** Up to 7 varint bytes (< 2^49) the arithmetic below stays exact. */
const MAX_FAST_VARINT_BYTES = 7;
const EMPTY = new Uint8Array(0);
// Node's and Bun's Latin-1 slice: one flat string in one call. Built char by
// char with +=, a key was a rope that the first Map lookup had to flatten; a
// microbenchmark (a 10,000-key Map, decode + get + set per key) put that at
// ~1.3 us against ~0.9 with this, on every member for every put it applies.
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/** Where the last readVarint stopped (module state: no object per call). */
export let varintEnd = 0;

/** A varint of at most 7 bytes starting at `start`; undefined when longer, padded or cut off. */
export function readVarint(bytes: Uint8Array, start: number): number | undefined {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < MAX_FAST_VARINT_BYTES; i++) {
    const pos = start + i;
    if (pos >= bytes.length) return undefined;
    const byte = bytes[pos]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      // A longer encoding than needed (a trailing 0x00 group) is valid protobuf, but rare.
      if (byte === 0 && i > 0) return undefined;
      varintEnd = pos + 1;
      return result;
    }
    scale *= 128;
  }
  return undefined;
}

/** bytes[start, stop) as text when every byte is ASCII (where UTF-8 and Latin-1 agree). */
export function asciiText(bytes: Uint8Array, start: number, stop: number): string | undefined {
  for (let i = start; i < stop; i++) if (bytes[i]! > 0x7f) return undefined;
  return latin1Slice.call(bytes, start, stop);
}

const TAG_KEY = 0x0a; // field 1, length-delimited
const TAG_VALUE = 0x12; // field 2, length-delimited
const TAG_LEASE = 0x18; // field 3, varint

export interface KeyValueLease {
  key: string;
  value: Uint8Array;
  lease: bigint;
}

/**
 * The fields {1: string key, 2: bytes value, 3: uint64 lease} of bytes[start, end),
 * the layout dkv.v1.SetRequest and dkv.raft.v1.PutCommand share; undefined for
 * unknown or repeated fields and anything readVarint or asciiText refuses.
 * The value is a view into `bytes`, as protobuf-es gives it.
 */
export function readKeyValueLease(bytes: Uint8Array, start: number, end: number): KeyValueLease | undefined {
  let key = "";
  let value: Uint8Array = EMPTY;
  let lease = 0n;
  let seen = 0;
  let pos = start;
  while (pos < end) {
    const tag = bytes[pos++]!;
    const bit = tag === TAG_KEY ? 1 : tag === TAG_VALUE ? 2 : tag === TAG_LEASE ? 4 : 0;
    if (bit === 0 || (seen & bit) !== 0) return undefined;
    seen |= bit;
    const number = readVarint(bytes, pos);
    if (number === undefined) return undefined;
    pos = varintEnd;
    if (tag === TAG_LEASE) {
      lease = BigInt(number);
      continue;
    }
    const stop = pos + number;
    if (stop > end) return undefined;
    if (tag === TAG_VALUE) {
      value = bytes.subarray(pos, stop);
    } else {
      const text = asciiText(bytes, pos, stop);
      if (text === undefined) return undefined;
      key = text;
    }
    pos = stop;
  }
  return pos === end ? { key, value, lease } : undefined;
}

const TWO_POW_31 = 2 ** 31;

/** Bytes a varint of `value` (a non-negative integer <= 2^53) takes. */
export function varintBytes(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let bytes = 4;
  let rest = Math.floor(value / 0x10000000);
  while (rest > 0) {
    bytes++;
    rest = Math.floor(rest / 0x80);
  }
  return bytes;
}

/** An implicit-presence uint field: absent when zero. */
export function uintFieldSize(value: number): number {
  return value === 0 ? 0 : 1 + varintBytes(value);
}

/** An implicit-presence bytes or string field: absent when empty. */
export function bytesFieldSize(length: number): number {
  return length === 0 ? 0 : 1 + varintBytes(length) + length;
}

export function writeVarint(buf: Uint8Array, pos: number, value: number): number {
  if (value < TWO_POW_31) {
    while (value > 0x7f) {
      buf[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[pos++] = value;
    return pos;
  }
  // Above 2^31 bit operators would truncate: divide instead (`& 0x7f` keeps the low bits exactly).
  while (value > 0x7f) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  buf[pos++] = value;
  return pos;
}

export function writeUintField(out: Uint8Array, pos: number, tag: number, value: number): number {
  if (value === 0) return pos;
  out[pos++] = tag;
  return writeVarint(out, pos, value);
}

export function writeBytesField(out: Uint8Array, pos: number, tag: number, bytes: Uint8Array): number {
  if (bytes.length === 0) return pos;
  out[pos++] = tag;
  pos = writeVarint(out, pos, bytes.length);
  out.set(bytes, pos);
  return pos + bytes.length;
}
