// The operations a chaos run records and the linearizability checker reads:
// one client call on one key, with when it was invoked and when it completed
// (monotonic milliseconds), and what the client learned about its outcome.

/** Values are strings; `null` means "the key is absent". */
export type Value = string | null;

export type Input =
  | { kind: "get" }
  | { kind: "set"; value: string }
  | { kind: "delete" }
  /** Swap to `value` (null: delete the key) if the key currently holds `expected` (null: is absent). */
  | { kind: "cas"; expected: Value; value: Value };

export type Output =
  | { kind: "get"; value: Value }
  | { kind: "set" }
  | { kind: "delete" }
  /** `previous`: the key's value before the operation, when the server said (undefined: not reported). */
  | { kind: "cas"; succeeded: boolean; previous?: Value };

/**
 * - ok:      the server answered; `output` holds the answer.
 * - fail:    certainly NOT applied (rejected before it could take effect).
 * - unknown: may or may not have taken effect (timeout, dropped connection, outcome-unknown error).
 */
export type Status = "ok" | "fail" | "unknown";

export interface Operation {
  /** Unique within one history. */
  id: number;
  /** The client (process) that issued it; one operation at a time per client. */
  client: number;
  key: string;
  input: Input;
  status: Status;
  /** Present exactly when status is "ok". */
  output?: Output;
  invokeMs: number;
  /** When the client stopped waiting; for "unknown" the operation may still take effect later. */
  completeMs: number;
  /** The error a failed or unknown operation ended with, for reports. */
  error?: string;
}

/** What an operation wrote, if it writes a value (set, or a CAS that swaps to a value). */
export function writtenValue(input: Input): string | undefined {
  if (input.kind === "set") return input.value;
  if (input.kind === "cas" && input.value !== null) return input.value;
  return undefined;
}

export function showValue(value: Value | undefined): string {
  if (value === undefined) return "?";
  return value === null ? "(absent)" : JSON.stringify(value);
}

export function describeInput(input: Input): string {
  switch (input.kind) {
    case "get":
      return "get";
    case "set":
      return `set ${showValue(input.value)}`;
    case "delete":
      return "delete";
    case "cas":
      return `cas ${showValue(input.expected)} -> ${input.value === null ? "(delete)" : showValue(input.value)}`;
  }
}

export function describeOutcome(op: Operation): string {
  if (op.status !== "ok") return op.status === "fail" ? `FAILED (not applied)${op.error ? `: ${op.error}` : ""}` : `UNKNOWN outcome${op.error ? `: ${op.error}` : ""}`;
  const output = op.output!;
  switch (output.kind) {
    case "get":
      return `ok, read ${showValue(output.value)}`;
    case "cas":
      return `ok, ${output.succeeded ? "swapped" : "not swapped"}${output.previous !== undefined ? `, previous ${showValue(output.previous)}` : ""}`;
    default:
      return "ok";
  }
}

/** One line per operation, times relative to `originMs`. */
export function describeOperation(op: Operation, originMs = 0): string {
  const from = (op.invokeMs - originMs).toFixed(1).padStart(9);
  const to = (op.completeMs - originMs).toFixed(1).padStart(9);
  // An unknown write may take effect after the client gave up: its interval is open.
  const end = op.status === "unknown" ? `${to}+` : `${to} `;
  return `#${op.id} client ${op.client}  ${from} → ${end}ms  ${op.key}: ${describeInput(op.input)}  ${describeOutcome(op)}`;
}
