// Client input checked before anything is proposed: a bad key or an oversize
// value is refused with a message naming the limit, and never reaches raft.
import { NodeError } from "./contract.ts";
import { RESERVED_KEY_PREFIX } from "./members.ts";

/** Longest key accepted, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 4096;

export function validateKey(key: string): void {
  if (key.length === 0) throw new NodeError("invalid_argument", "key must not be empty");
  if (key.startsWith(RESERVED_KEY_PREFIX)) throw new NodeError("invalid_argument", "keys starting with a NUL byte are reserved for dkv itself");
  const bytes = Buffer.byteLength(key, "utf8");
  if (bytes > MAX_KEY_BYTES) throw new NodeError("invalid_argument", `key is ${bytes} bytes; the limit is ${MAX_KEY_BYTES} bytes`);
}

export function validateValue(key: string, value: Uint8Array, maxRequestBytes: number): void {
  const total = value.length + Buffer.byteLength(key, "utf8");
  if (total > maxRequestBytes) {
    throw new NodeError("invalid_argument", `key and value are ${total} bytes; the limit is ${maxRequestBytes} bytes (--max-request-bytes)`);
  }
}
