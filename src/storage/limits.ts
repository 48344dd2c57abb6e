// Size limits on what a client may write, checked BEFORE anything is proposed so
// a bad request costs one error message and never a raft entry. The figures
// follow etcd's defaults: a request is at most 1.5 MiB (--max-request-bytes).

import type { Command, CompareAndSwapCommand } from "../gen/dkv/raft/v1/command_pb";

/** etcd's default --max-request-bytes: the whole encoded command. */
export const MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** A key is a name, not a payload: long enough for deep paths, short enough to index cheaply. */
export const MAX_KEY_BYTES = 4 * 1024;
/** Room for field tags, client id and request id next to a maximum key and value. */
export const COMMAND_OVERHEAD_BYTES = 1024;
/** The largest value that still fits a request together with a maximum key. */
export const MAX_VALUE_BYTES = MAX_REQUEST_BYTES - MAX_KEY_BYTES - COMMAND_OVERHEAD_BYTES;
/** Client ids identify a session; they are echoed in every result. */
export const MAX_CLIENT_ID_BYTES = 256;

/** Keys returned by one range read at most (a client pages with `more`). */
export const MAX_RANGE_KEYS = 10_000;
/** Bytes of keys + values in one range answer at most (at least one key is always returned). */
export const MAX_RANGE_RESPONSE_BYTES = 4 * 1024 * 1024;

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** Why `key` cannot be stored, or undefined when it can. `what` names the field in the message. */
export function validateKey(key: string, what = "key"): string | undefined {
  if (key.length === 0) return `${what} must not be empty`;
  // A lone UTF-16 surrogate would be silently replaced by U+FFFD when encoded,
  // so the stored key would differ from the one the client sent.
  if (!key.isWellFormed()) return `${what} is not well-formed Unicode (it contains a lone surrogate)`;
  const bytes = utf8Bytes(key);
  if (bytes > MAX_KEY_BYTES) return `${what} is ${bytes} bytes; the limit is ${MAX_KEY_BYTES} bytes (MAX_KEY_BYTES)`;
  return undefined;
}

export function validateValue(value: Uint8Array, what = "value"): string | undefined {
  if (value.byteLength > MAX_VALUE_BYTES) {
    return `${what} is ${value.byteLength} bytes; the limit is ${MAX_VALUE_BYTES} bytes (MAX_VALUE_BYTES)`;
  }
  return undefined;
}

export function validatePut(key: string, value: Uint8Array): string | undefined {
  return validateKey(key) ?? validateValue(value);
}

export function validateDelete(key: string): string | undefined {
  return validateKey(key);
}

export function validateCompareAndSwap(cas: CompareAndSwapCommand): string | undefined {
  const compare = cas.compare;
  if (compare === undefined) return "compare-and-swap needs a comparison";
  const problem =
    validateKey(compare.key, "compare key") ??
    validateValue(compare.value, "compare value") ??
    validateKey(cas.key) ??
    (cas.delete ? undefined : validateValue(cas.value));
  if (problem !== undefined) return problem;
  const bytes = utf8Bytes(compare.key) + compare.value.byteLength + utf8Bytes(cas.key) + cas.value.byteLength;
  if (bytes + COMMAND_OVERHEAD_BYTES > MAX_REQUEST_BYTES) {
    return `compare-and-swap carries ${bytes} bytes of keys and values; the request limit is ${MAX_REQUEST_BYTES} bytes (MAX_REQUEST_BYTES)`;
  }
  return undefined;
}

/** Why `command` must not be proposed, or undefined when it may be. */
export function validateCommand(command: Command): string | undefined {
  const clientIdBytes = utf8Bytes(command.clientId);
  if (clientIdBytes > MAX_CLIENT_ID_BYTES) {
    return `client id is ${clientIdBytes} bytes; the limit is ${MAX_CLIENT_ID_BYTES} bytes (MAX_CLIENT_ID_BYTES)`;
  }
  const op = command.op;
  switch (op.case) {
    case "put":
      return validatePut(op.value.key, op.value.value);
    case "delete":
      return validateDelete(op.value.key);
    case "compareAndSwap":
      return validateCompareAndSwap(op.value);
    case undefined:
      return "command has no operation (expected put, delete or compare-and-swap)";
  }
}
