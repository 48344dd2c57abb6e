// Keys are ordered by their UTF-8 bytes, as etcd orders them and as a prefix's
// upper bound (prefixEnd) is computed. JavaScript compares strings by UTF-16
// code units, which agrees with UTF-8 byte order everywhere except one place:
// a code point above U+FFFF is a surrogate pair (0xD800-0xDFFF) in UTF-16 but
// sorts after U+E000-U+FFFF in UTF-8. Keys are well-formed (validateKey
// refuses lone surrogates; decoding turns them into U+FFFD), so moving the
// surrogate range above 0xFFFF at the first differing unit is enough.

/** Negative, zero or positive as a sorts before, equal to or after b in UTF-8 byte order. */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  const shorter = Math.min(a.length, b.length);
  for (let i = 0; i < shorter; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 || y < 0xd800) return x - y;
    return utf8Rank(x) - utf8Rank(y);
  }
  return a.length - b.length;
}

/** A code unit at or above 0xD800, renumbered so surrogates come after U+E000-U+FFFF. */
function utf8Rank(unit: number): number {
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}
