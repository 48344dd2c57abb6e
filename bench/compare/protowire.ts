// Just enough protobuf wire format to pre-encode the benchmark's requests and
// to glance at responses, for both etcd and dkv. Hand-written on purpose: the
// load generator must spend as little CPU per call as possible (BENCH-NOTES),
// and every request body is encoded once, before the clock starts.

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

export class ProtoWriter {
  private readonly bytes: number[] = [];

  private varint(value: number): void {
    // Values here stay far below 2^53, so plain arithmetic is exact.
    while (value >= 0x80) {
      this.bytes.push((value % 0x80) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.bytes.push(value);
  }

  /** A length-delimited field (string, bytes, embedded message). Empty values are omitted, as proto3 does. */
  field(fieldNumber: number, data: Uint8Array): this {
    if (data.length === 0) return this;
    this.varint((fieldNumber << 3) | WIRE_LEN);
    this.varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  /** A varint field (enum, bool, integer). Zero is omitted, as proto3 does. */
  uint(fieldNumber: number, value: number): this {
    if (value === 0) return this;
    this.varint((fieldNumber << 3) | WIRE_VARINT);
    this.varint(value);
    return this;
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

/**
 * Whether a message has the top-level field `fieldNumber`, without decoding
 * the rest. Used to tell a read that found its key from one that did not.
 * Returns false on malformed input rather than throwing: a broken response is
 * reported as "not found", which the benchmark counts as a failed read.
 */
export function hasField(message: Uint8Array, fieldNumber: number, start = 0, end = message.length): boolean {
  let i = start;
  while (i < end) {
    let tag = 0;
    let shift = 0;
    for (;;) {
      if (i >= end) return false;
      const b = message[i++]!;
      tag += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if (b < 0x80) break;
    }
    const number = Math.floor(tag / 8);
    const wire = tag & 7;
    if (number === fieldNumber) return true;
    if (wire === WIRE_VARINT) {
      while (i < end && message[i]! >= 0x80) i++;
      i++;
    } else if (wire === WIRE_LEN) {
      let len = 0;
      shift = 0;
      for (;;) {
        if (i >= end) return false;
        const b = message[i++]!;
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if (b < 0x80) break;
      }
      i += len;
    } else if (wire === 1) {
      i += 8;
    } else if (wire === 5) {
      i += 4;
    } else {
      return false;
    }
  }
  return false;
}
