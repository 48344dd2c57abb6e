// Cheap 32-bit fingerprints (FNV-1a) for comparing entries and state-machine
// histories across nodes without keeping copies of every payload.

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnvBytes(hash: number, bytes: Uint8Array): number {
  let h = hash;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i] as number;
    h = Math.imul(h, FNV_PRIME);
  }
  return h >>> 0;
}

/** Mixes one unsigned 32-bit number (or any safe integer, by its low and high words). */
export function fnvNumber(hash: number, value: number): number {
  let h = hash;
  const low = value >>> 0;
  const high = Math.floor(value / 0x1_0000_0000) >>> 0;
  for (const word of [low, high]) {
    for (let shift = 0; shift < 32; shift += 8) {
      h ^= (word >>> shift) & 0xff;
      h = Math.imul(h, FNV_PRIME);
    }
  }
  return h >>> 0;
}

/** Fingerprint of an entry's content (type and payload; index and term are compared separately). */
export function entryDigest(type: number, data: Uint8Array): number {
  return fnvBytes(fnvNumber(FNV_OFFSET, type), data);
}

/** The state machine's history fingerprint after applying one more entry. */
export function chainDigest(previous: number, index: number, term: number, contentDigest: number): number {
  return fnvNumber(fnvNumber(fnvNumber(previous, index), term), contentDigest);
}

export const EMPTY_HISTORY_DIGEST = FNV_OFFSET;
