// The commands the simulated clients put in Normal entries: "set key to a
// value". Every write has a unique id, and the value is derived from it, so a
// value read back names exactly the write that produced it.

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SEPARATOR = "\u0000";
const SET_TAG = "set";

export interface SetCommand {
  writeId: number;
  key: string;
  /** Filler that makes the entry bigger (exercises byte limits); not part of the value. */
  paddingBytes?: number;
}

export function encodeSet(command: SetCommand): Uint8Array {
  if (command.key.includes(SEPARATOR)) throw new Error(`key ${JSON.stringify(command.key)} contains a NUL`);
  const padding = "p".repeat(command.paddingBytes ?? 0);
  return encoder.encode(`${SET_TAG}${SEPARATOR}${command.key}${SEPARATOR}${command.writeId}${SEPARATOR}${padding}`);
}

/** undefined for an empty payload (a leader's no-op); throws on anything else that is not a set. */
export function decodeCommand(data: Uint8Array): SetCommand | undefined {
  if (data.length === 0) return undefined;
  const parts = decoder.decode(data).split(SEPARATOR);
  const writeId = Number(parts[2]);
  if (parts.length !== 4 || parts[0] !== SET_TAG || !Number.isSafeInteger(writeId)) {
    throw new Error(`not a dkv sim command: ${JSON.stringify(decoder.decode(data))}`);
  }
  return { key: parts[1] as string, writeId, paddingBytes: (parts[3] as string).length };
}

export function valueOfWrite(writeId: number): string {
  return `v${writeId}`;
}
