// Printing for the client commands: aligned tables for people, one JSON
// document (snake_case fields) for programs. Values are bytes: JSON carries
// them as text when they are valid UTF-8 and as base64 otherwise.
import type { KeyValue } from "../../client/index.ts";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const lenientUtf8 = new TextDecoder();
const MESSAGE_VALUE_CHARS_MAX = 60;

export function writeStdout(data: string | Uint8Array): void {
  process.stdout.write(data);
}

export function printJson(document: unknown): void {
  writeStdout(JSON.stringify(document, null, 2) + "\n");
}

/** Columns separated by two spaces, padded to the widest cell; the last column is not padded. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  writeStdout([line(headers), ...rows.map(line)].join("\n") + "\n");
}

/** `{ value }` when the bytes are UTF-8 text, else `{ value_base64 }`. */
export function valueJson(value: Uint8Array): { value: string } | { value_base64: string } {
  try {
    return { value: strictUtf8.decode(value) };
  } catch {
    return { value_base64: Buffer.from(value).toString("base64") };
  }
}

export function keyValueJson(kv: KeyValue, keysOnly = false) {
  return {
    key: kv.key,
    ...(keysOnly ? {} : valueJson(kv.value)),
    create_revision: kv.createRevision,
    mod_revision: kv.modRevision,
    version: kv.version,
    ...(kv.lease !== 0 ? { lease: kv.lease } : {}),
  };
}

/** A value shown inside a one-line message: quoted, control characters escaped, long ones cut. */
export function quoteValue(value: Uint8Array): string {
  const text = lenientUtf8.decode(value);
  const cut = text.length > MESSAGE_VALUE_CHARS_MAX ? text.slice(0, MESSAGE_VALUE_CHARS_MAX) + "…" : text;
  return JSON.stringify(cut);
}

/** Table cell for a value: text as is, with newlines escaped so a row stays one line. */
export function valueCell(value: Uint8Array): string {
  return lenientUtf8.decode(value).replace(/\r/g, "\\r").replace(/\n/g, "\\n");
}

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}
