// What the API worker (http-worker.ts) and the raft thread (worker-bridge.ts)
// say to each other. Unary calls and their answers travel packed, many to one
// ArrayBuffer that is transferred, not copied: structured-cloning an object
// per call cost about as much as the HTTP handling the worker takes off the
// raft thread (measured: 31k against 41k calls/s through one worker).
// Everything else (probes, streams, gRPC-Web, GET) is a rare message of its own.

/** One unary Connect call, as the lean path needs it. */
export interface PackedCall {
  id: number;
  route: number;
  contentType: string | null;
  timeout: string | null;
  protocolVersion: string | null;
  authorization: string | null;
  contentLength: string | null;
  /** A body without Content-Length that passed readMaxBytes; the worker stopped reading it. */
  overLimit: boolean;
  body: Uint8Array;
}

/** The answer to a PackedCall; `headers` (JSON of [name, value] pairs) only when an error adds some. */
export interface PackedAnswer {
  id: number;
  status: number;
  contentType: string;
  headers: string | null;
  body: Uint8Array;
}

export interface WorkerConfig {
  hostname: string;
  port: number;
  tls: { cert: string; key: string; ca?: string; requestCert: boolean; rejectUnauthorized: boolean } | undefined;
  maxRequestBodySize: number;
  readMaxBytes: number;
  idleTimeout: number;
  /** Request paths answered by PackedCall; the index is PackedCall.route. */
  unaryPaths: string[];
}

/** A request the worker hands over whole (all but lean unary calls). */
export interface ForwardedRequest {
  type: "request";
  id: number;
  method: string;
  url: string;
  headers: [string, string][];
  body: Uint8Array | null;
}

export interface ForwardedResponse {
  type: "response";
  id: number;
  status: number;
  headers: [string, string][];
  /** The whole body, or "stream": it follows in "chunk" messages, one per "pull". */
  body: Uint8Array | null | "stream";
}

export type ToRaftThread =
  | { type: "listening"; hostname: string; port: number }
  | { type: "failed"; message: string }
  | { type: "calls"; packed: Uint8Array }
  | ForwardedRequest
  | { type: "pull"; id: number }
  | { type: "cancel"; id: number }
  | { type: "log"; line: string; unhandled: boolean }
  | { type: "drained" }
  | { type: "stopped" }
  /** After a "tls" message: error null = the new certificate serves; closed = the port could not be bound again at all. */
  | { type: "tlsReplaced"; error: string | null; closed: boolean };

export type ToWorker =
  | { type: "start"; config: WorkerConfig }
  | { type: "answers"; packed: Uint8Array }
  | ForwardedResponse
  | { type: "chunk"; id: number; chunk: Uint8Array | null; error: string | null }
  | { type: "stop"; graceMs: number }
  /** Serve new handshakes with this certificate (rotation); connections already open keep theirs. */
  | { type: "tls"; tls: WorkerConfig["tls"] }
  | { type: "close" };

const NULL_STRING = 0xffff;

/** Appends records to one growing buffer. */
export class Packer {
  private buffer = Buffer.allocUnsafe(64 * 1024);
  private offset = 0;
  private records = 0;

  get count(): number {
    return this.records;
  }

  call(call: PackedCall): void {
    this.reserve(4 + 2 + 5 * 2 + 1 + 4 + call.body.byteLength + stringsLength(call.contentType, call.timeout, call.protocolVersion, call.authorization, call.contentLength));
    this.u32(call.id);
    this.u16(call.route);
    this.string(call.contentType);
    this.string(call.timeout);
    this.string(call.protocolVersion);
    this.string(call.authorization);
    this.string(call.contentLength);
    this.offset = this.buffer.writeUInt8(call.overLimit ? 1 : 0, this.offset);
    this.bytes(call.body);
    this.records++;
  }

  answer(answer: PackedAnswer): void {
    this.reserve(4 + 2 + 2 * 2 + 4 + answer.body.byteLength + stringsLength(answer.contentType, answer.headers));
    this.u32(answer.id);
    this.u16(answer.status);
    this.string(answer.contentType);
    this.string(answer.headers);
    this.bytes(answer.body);
    this.records++;
  }

  /** The packed records (a fresh buffer, to transfer) and a reset packer. */
  take(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.offset);
    out.set(this.buffer.subarray(0, this.offset));
    this.offset = 0;
    this.records = 0;
    return out;
  }

  private reserve(length: number): void {
    if (this.offset + length <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.offset + length));
    this.buffer.copy(bigger, 0, 0, this.offset);
    this.buffer = bigger;
  }

  private u16(value: number): void {
    this.offset = this.buffer.writeUInt16LE(value, this.offset);
  }

  private u32(value: number): void {
    this.offset = this.buffer.writeUInt32LE(value, this.offset);
  }

  private string(value: string | null): void {
    if (value === null) return this.u16(NULL_STRING);
    const length = Buffer.byteLength(value, "utf8");
    this.u16(length);
    this.offset += this.buffer.write(value, this.offset, length, "utf8");
  }

  private bytes(value: Uint8Array): void {
    this.u32(value.byteLength);
    this.buffer.set(value, this.offset);
    this.offset += value.byteLength;
  }
}

function stringsLength(...values: (string | null)[]): number {
  let total = 0;
  // utf8 takes at most 3 bytes per UTF-16 unit.
  for (const value of values) if (value !== null) total += value.length * 3;
  return total;
}

/** Reads records written by Packer. */
class Unpacker {
  private offset = 0;
  private readonly buffer: Buffer;

  constructor(packed: Uint8Array) {
    this.buffer = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  }

  get done(): boolean {
    return this.offset >= this.buffer.length;
  }

  u8(): number {
    return this.buffer.readUInt8(this.offset++);
  }

  u16(): number {
    const value = this.buffer.readUInt16LE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(): number {
    const value = this.buffer.readUInt32LE(this.offset);
    this.offset += 4;
    return value;
  }

  string(): string | null {
    const length = this.u16();
    if (length === NULL_STRING) return null;
    const value = this.buffer.toString("utf8", this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  bytes(): Uint8Array {
    const length = this.u32();
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }
}

export function unpackCalls(packed: Uint8Array): PackedCall[] {
  const reader = new Unpacker(packed);
  const calls: PackedCall[] = [];
  while (!reader.done) {
    calls.push({
      id: reader.u32(),
      route: reader.u16(),
      contentType: reader.string(),
      timeout: reader.string(),
      protocolVersion: reader.string(),
      authorization: reader.string(),
      contentLength: reader.string(),
      overLimit: reader.u8() === 1,
      body: reader.bytes(),
    });
  }
  return calls;
}

export function unpackAnswers(packed: Uint8Array): PackedAnswer[] {
  const reader = new Unpacker(packed);
  const answers: PackedAnswer[] = [];
  while (!reader.done) {
    answers.push({ id: reader.u32(), status: reader.u16(), contentType: reader.string()!, headers: reader.string(), body: reader.bytes() });
  }
  return answers;
}
