// Concurrent clients for chaos runs: each loops over get / set / delete /
// compare-and-swap (every other one as a Txn) on a small key set, one
// request at a time, with unique values and a deadline per request, and
// records every operation with its invoke and completion time (monotonic
// clock) and what is known of its outcome. The rule: "fail" only when the
// write certainly did not take effect; everything uncertain is "unknown"
// (see classify()).
import { b64, unb64 } from "../e2e/cluster.ts";
import type { Input, Operation, Output, Status, Value } from "./history.ts";
import type { Prng } from "./prng.ts";

/** Requests a client may send in one run: a backstop against a loop that never stops. */
const OPS_PER_CLIENT_MAX = 100_000;
/** Extra time the HTTP client waits past the deadline it sends, so the server's own answer usually wins. */
const CLIENT_GRACE_MS = 500;

/**
 * Server messages that say a write was certainly not applied: refused before
 * it was proposed (not the leader, no leader, transfer in progress), never
 * sent to the leader, or its log slot taken by another entry. Kept in sync
 * with src/server (pending.ts, forwarder.ts, node.ts, raft-driver.ts). Any
 * other error, including "the node is shutting down" and every timeout, may
 * hide a write that still commits.
 */
export const NOT_APPLIED_MESSAGE = /not applied|was not sent|not the leader|no leader elected|leadership is being transferred/;

/** One HTTP exchange, as far as the client could tell. */
export type RpcResult =
  | { kind: "answer"; body: Record<string, unknown> }
  | { kind: "error"; code: string; message: string }
  /** The connection was refused: nothing was sent (every request opens its own connection). */
  | { kind: "refused"; message: string }
  /** Sent, maybe received, no answer: reset, timeout, broken body. */
  | { kind: "lost"; message: string };

/** One Connect-JSON call on a fresh connection (no keep-alive: a refused connection then proves nothing was sent). */
export async function rpc(endpoint: string, method: string, body: unknown, timeoutMs: number): Promise<RpcResult> {
  let response: Response;
  try {
    response = await fetch(`${endpoint}/${method}`, {
      method: "POST",
      keepalive: false,
      headers: { "content-type": "application/json", "connect-protocol-version": "1", "connect-timeout-ms": String(timeoutMs) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs + CLIENT_GRACE_MS),
    });
  } catch (error) {
    const code = String((error as { code?: unknown })?.code ?? "");
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    if (code === "ECONNREFUSED" || code === "ConnectionRefused") return { kind: "refused", message };
    return { kind: "lost", message: code ? `${code}: ${message}` : message };
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    return { kind: "lost", message: `reading the answer: ${error instanceof Error ? error.message : String(error)}` };
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    return { kind: "lost", message: `HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 120)}` };
  }
  if (response.ok) return { kind: "answer", body: parsed };
  if (typeof parsed.code === "string") return { kind: "error", code: parsed.code, message: String(parsed.message ?? "") };
  return { kind: "lost", message: `HTTP ${response.status}: ${text.slice(0, 120)}` };
}

/** What an error says about a request's effect: "fail" only if it certainly had none. */
export function classify(result: Exclude<RpcResult, { kind: "answer" }>): Exclude<Status, "ok"> {
  if (result.kind === "refused") return "fail";
  if (result.kind === "lost") return "unknown";
  if (result.code === "invalid_argument") return "fail";
  if (result.code === "unavailable" && NOT_APPLIED_MESSAGE.test(result.message)) return "fail";
  return "unknown";
}

/**
 * The request for an input, and how to read its answer. `asTxn`: a
 * compare-and-swap goes as a Txn (compare, then put or delete, else get), so
 * transactions face the same faults and the same checker.
 */
function requestFor(key: string, input: Input, reads: ReadConsistency, asTxn = false): { method: string; body: unknown; read: (body: Record<string, unknown>) => Output } {
  switch (input.kind) {
    case "get":
      return {
        method: "dkv.v1.DkvAPI/Get",
        body: { key, consistency: reads === "linearizable" ? "CONSISTENCY_LINEARIZABLE" : "CONSISTENCY_SERIALIZABLE" },
        read: (body) => ({ kind: "get", value: body.found ? unb64(body.value as string | undefined) : null }),
      };
    case "set":
      return { method: "dkv.v1.DkvAPI/Set", body: { key, value: b64(input.value) }, read: () => ({ kind: "set" }) };
    case "delete":
      return { method: "dkv.v1.DkvAPI/Delete", body: { key }, read: () => ({ kind: "delete" }) };
    case "cas": {
      // A missing key never equals a value; "expect absent" is version 0.
      const compare = input.expected === null ? { key, target: "TARGET_VERSION", number: "0" } : { key, target: "TARGET_VALUE", value: b64(input.expected) };
      if (asTxn) return txnCas(key, compare, input.expected, input.value);
      const body = input.value === null ? { compare, key, delete: true } : { compare, key, value: b64(input.value) };
      return {
        method: "dkv.v1.DkvAPI/CompareAndSwap",
        body,
        read: (answer) => {
          const previous = answer.previous as { value?: string } | undefined;
          return { kind: "cas", succeeded: answer.succeeded === true, previous: answer.previousFound ? unb64(previous?.value) : null };
        },
      };
    }
  }
}

/** A compare-and-swap as a Txn: the failure branch reads the key, as CompareAndSwap's answer carries it. */
function txnCas(key: string, compare: object, expected: Value, value: Value): { method: string; body: unknown; read: (body: Record<string, unknown>) => Output } {
  const write = value === null ? { delete: { key } } : { put: { key, value: b64(value) } };
  return {
    method: "dkv.v1.DkvAPI/Txn",
    body: { compare: [compare], success: [write], failure: [{ get: { key } }] },
    read: (answer) => {
      if (answer.succeeded === true) return { kind: "cas", succeeded: true, previous: expected };
      const results = answer.results as Array<{ get?: { found?: boolean; value?: string } }> | undefined;
      const get = results?.[0]?.get;
      if (get === undefined) throw new Error("a failed Txn without the failure branch's get");
      return { kind: "cas", succeeded: false, previous: get.found ? unb64(get.value) : null };
    },
  };
}

/** Serializable reads are not linearizable by design: only tests that must see the checker object use them. */
export type ReadConsistency = "linearizable" | "serializable";

/** Every operation of a run, in invocation order, with times relative to `originMs`. */
export class Recorder {
  readonly ops: Operation[] = [];
  readonly originMs = performance.now();
  private nextId = 1;

  constructor(private readonly reads: ReadConsistency = "linearizable") {}

  now(): number {
    return performance.now() - this.originMs;
  }

  /** Invokes `input` on `endpoint` and records the outcome. */
  async perform(client: number, endpoint: string, key: string, input: Input, timeoutMs: number): Promise<Operation> {
    const id = this.nextId++;
    // Every other compare-and-swap goes as a Txn.
    const request = requestFor(key, input, this.reads, id % 2 === 0);
    const op: Operation = { id, client, key, input, status: "unknown", invokeMs: this.now(), completeMs: 0 };
    this.ops.push(op);
    const result = await rpc(endpoint, request.method, request.body, timeoutMs);
    op.completeMs = this.now();
    if (result.kind === "answer") {
      try {
        op.output = request.read(result.body);
        op.status = "ok";
      } catch (error) {
        op.error = `unreadable answer: ${error instanceof Error ? error.message : String(error)}`;
      }
    } else {
      op.status = classify(result);
      op.error = `${result.kind === "error" ? result.code : result.kind}: ${result.message}`.slice(0, 300);
    }
    return op;
  }
}

export interface WorkloadOptions {
  clientsCount: number;
  keys: string[];
  requestTimeoutMs: number;
  /** Client endpoints to spread requests over; asked before every request (members come and go). */
  endpoints: () => string[];
  prng: Prng;
  /** Longest pause between two requests of one client. */
  thinkMsMax: number;
}

/** Relative weights of the operations a client picks. Deletes are few: each unknown one is costly to check. */
const MIX = { get: 40, set: 28, cas: 26, delete: 6 };

export class Workload {
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly options: WorkloadOptions,
    readonly recorder: Recorder,
  ) {}

  start(): void {
    for (let client = 1; client <= this.options.clientsCount; client++) this.loops.push(this.clientLoop(client, this.options.prng.fork(`client-${client}`)));
  }

  /** Stops issuing new requests and waits for the ones in flight (each bounded by its deadline). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  private async clientLoop(client: number, prng: Prng): Promise<void> {
    const lastSeen = new Map<string, Value>();
    for (let seq = 0; seq < OPS_PER_CLIENT_MAX && !this.stopping; seq++) {
      const key = prng.pick(this.options.keys);
      const input = this.pickInput(prng, `c${client}-${seq}`, lastSeen.get(key) ?? null);
      const endpoint = prng.pick(this.options.endpoints());
      const op = await this.recorder.perform(client, endpoint, key, input, this.options.requestTimeoutMs);
      remember(lastSeen, op);
      // After a failure, back off a little so a dead member is not hammered.
      const pauseMs = op.status === "ok" ? prng.int(this.options.thinkMsMax + 1) : 20 + prng.int(80);
      if (pauseMs > 0) await Bun.sleep(pauseMs);
    }
  }

  private pickInput(prng: Prng, unique: string, lastSeen: Value): Input {
    let roll = prng.int(MIX.get + MIX.set + MIX.cas + MIX.delete);
    if ((roll -= MIX.get) < 0) return { kind: "get" };
    if ((roll -= MIX.set) < 0) return { kind: "set", value: unique };
    if ((roll -= MIX.cas) < 0) return { kind: "cas", expected: lastSeen, value: unique };
    return { kind: "delete" };
  }
}

/** What a client believes a key holds after its own operation: the base of its next CAS. */
function remember(lastSeen: Map<string, Value>, op: Operation): void {
  if (op.status !== "ok" || !op.output) return;
  const output = op.output;
  if (output.kind === "get") lastSeen.set(op.key, output.value);
  else if (op.input.kind === "set") lastSeen.set(op.key, op.input.value);
  else if (op.input.kind === "delete") lastSeen.set(op.key, null);
  else if (output.kind === "cas" && op.input.kind === "cas") lastSeen.set(op.key, output.succeeded ? op.input.value : (output.previous ?? null));
}
