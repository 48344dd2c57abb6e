// Client input checked before anything is proposed: a bad key or an oversize
// value is refused with a message naming the limit, and never reaches raft.
// The limits themselves are storage's (src/storage/limits.ts).
import { validateKey as storageValidateKey, validateValue as storageValidateValue } from "../storage/index.ts";
import { NodeError } from "./contract.ts";
import { RESERVED_KEY_PREFIX } from "./members.ts";

export function validateKey(key: string): void {
  if (key.startsWith(RESERVED_KEY_PREFIX)) throw new NodeError("invalid_argument", "keys starting with a NUL byte are reserved for dkv itself");
  const problem = storageValidateKey(key);
  if (problem) throw new NodeError("invalid_argument", problem);
}

export function validateValue(value: Uint8Array): void {
  const problem = storageValidateValue(value);
  if (problem) throw new NodeError("invalid_argument", problem);
}
