// Protobuf wire primitives for the hand-written raft message codec: varints
// over plain numbers (exact up to 2^53, which raft indexes never reach),
// length-delimited fields, and a reader that skips unknown fields so newer
// peers may add some.

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

const TWO_POW_31 = 2 ** 31;
const SHORT_ASCII_MAX_BYTES = 32;
const UTF8 = new TextEncoder();
const UTF8_DECODER = new TextDecoder("utf-8", { fatal: true });

export class WireError extends Error {
  override name = "WireError";
}

export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

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

/** Caches the UTF-8 bytes of node ids: a handful of distinct strings sent millions of times. */
const utf8Cache = new Map<string, Uint8Array>();
const UTF8_CACHE_MAX_ENTRIES = 1024;

export function utf8Bytes(text: string): Uint8Array {
  let bytes = utf8Cache.get(text);
  if (bytes === undefined) {
    bytes = UTF8.encode(text);
    if (utf8Cache.size >= UTF8_CACHE_MAX_ENTRIES) utf8Cache.clear();
    utf8Cache.set(text, bytes);
  }
  return bytes;
}

/** Reads one protobuf message body; positions are absolute within `buf`. */
export class WireReader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    public end = buf.length,
  ) {
    this.pos = start;
  }

  /** Narrows the reader to the embedded message that starts here; `leave(outerEnd)` widens it again. */
  enter(field: string): this {
    const [start, end] = this.lengthDelimited(field);
    this.pos = start;
    this.end = end;
    return this;
  }

  leave(outerEnd: number): void {
    this.pos = this.end;
    this.end = outerEnd;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** A varint as a number; values above 2^53 - 1 are refused rather than rounded. */
  uint(field: string): number {
    const buf = this.buf;
    let result = 0;
    let multiplier = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireError(`truncated varint in ${field}`);
      const byte = buf[this.pos++]!;
      result += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new WireError(`${field} exceeds 2^53-1`);
        return result;
      }
      multiplier *= 0x80;
    }
    throw new WireError(`varint longer than 10 bytes in ${field}`);
  }

  /** A length-delimited field's [start, end) within buf; the reader moves past it. */
  lengthDelimited(field: string): [number, number] {
    const length = this.uint(field);
    const start = this.pos;
    const end = start + length;
    if (end > this.end) throw new WireError(`${field} claims ${length} bytes, only ${this.end - start} left`);
    this.pos = end;
    return [start, end];
  }

  /** Bytes field as a view into the frame (no copy). */
  bytes(field: string): Uint8Array {
    const [start, end] = this.lengthDelimited(field);
    return this.buf.subarray(start, end);
  }

  string(field: string): string {
    const [start, end] = this.lengthDelimited(field);
    if (start === end) return "";
    if (end - start <= SHORT_ASCII_MAX_BYTES) {
      // Node ids: short ASCII. Building the string directly beats TextDecoder's call overhead.
      let text = "";
      for (let i = start; i < end; i++) {
        const byte = this.buf[i]!;
        if (byte >= 0x80) {
          text = "";
          break;
        }
        text += String.fromCharCode(byte);
        if (i === end - 1) return text;
      }
    }
    try {
      return UTF8_DECODER.decode(this.buf.subarray(start, end));
    } catch {
      throw new WireError(`${field} is not valid UTF-8`);
    }
  }

  skip(wireType: number, field: string): void {
    switch (wireType) {
      case WIRE_VARINT:
        while (true) {
          if (this.pos >= this.end) throw new WireError(`truncated varint in ${field}`);
          if (this.buf[this.pos++]! < 0x80) return;
        }
      case WIRE_FIXED64:
        this.advance(8, field);
        return;
      case WIRE_LEN:
        this.lengthDelimited(field);
        return;
      case WIRE_FIXED32:
        this.advance(4, field);
        return;
      default:
        // Groups (3, 4) are not used by proto3; 6 and 7 do not exist.
        throw new WireError(`unsupported wire type ${wireType} in ${field}`);
    }
  }

  private advance(bytes: number, field: string): void {
    if (this.pos + bytes > this.end) throw new WireError(`truncated ${field}`);
    this.pos += bytes;
  }
}
