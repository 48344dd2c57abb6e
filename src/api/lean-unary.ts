// The lean path for unary Connect-protocol POSTs (application/proto and
// application/json): buffer the body with one arrayBuffer(), decode, call the
// guarded method, encode, answer with one Response. The stock connect-es
// fetch handler pipes the same request through async iterables and a
// ReadableStream, which costs ~160 µs of CPU per call on Bun (BUN-NOTES).
// The same path answers the calls the API worker hands over (worker-bridge.ts):
// its core takes four header values and the body, not a Request.
//
// Wire behaviour is the stock handler's, built from connect-es's own helpers
// (content types, error JSON, HTTP status per code, Connect-Timeout-Ms,
// Connect-Protocol-Version, size-limit messages), with one deliberate
// difference shared by stock.ts: an undecodable binary body is
// invalid_argument (connect-es says internal; connect-go says
// invalid_argument). Anything this path does not handle goes to the stock
// handler (see leanCanServe).
import type { DescMethodUnary, DescMessage, MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { createMethodSerializationLookup, mergeNonProtocolHeaders, type Serialization } from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  contentTypeUnaryJson,
  contentTypeUnaryProto,
  contentTypeUnaryRegExp,
  errorToJsonBytes,
  headerContentType,
  headerProtocolVersion,
  headerTimeout,
  headerUnaryContentLength,
  headerUnaryEncoding,
  parseTimeout,
  protocolVersion,
} from "@connectrpc/connect/protocol-connect";
import { ActiveCalls } from "./active-calls.js";
import { fastBinaryCodec } from "./fast-binary.js";
import type { LogFn } from "./errors.js";
import type { CallContext } from "./services.js";

/** connect-es's own ceiling for writeMaxBytes; responses are bounded by the node, not here. */
const WRITE_MAX_BYTES = 0xffffffff;

export interface LeanUnaryOptions {
  readMaxBytes: number;
  requireConnectProtocolHeader: boolean;
  /** Fires when the server stops; like the stock handler, it cancels calls in progress. */
  shutdownSignal: AbortSignal;
  log: LogFn;
}

export type FetchHandler = (request: Request) => Promise<Response>;
type UnaryMethod = (request: unknown, context: CallContext) => Promise<unknown>;

/**
 * Whether the lean path answers `request` exactly as the stock handler would.
 * Compressed bodies, GET, gRPC-Web and streaming content types go to the stock handler.
 */
export function leanCanServe(request: Request): boolean {
  if (request.method !== "POST") return false;
  const contentType = request.headers.get(headerContentType);
  if (contentType === null || !contentTypeUnaryRegExp.test(contentType)) return false;
  const encoding = request.headers.get(headerUnaryEncoding);
  return encoding === null || encoding === "identity";
}

/** What the lean path needs of a request: a few header values and a way to read the body. */
export interface LeanUnaryRequest {
  contentType: string | null;
  timeout: string | null;
  protocolVersion: string | null;
  /** Absent where no auth file is in use (the API worker leaves it out then). */
  authorization?: string | null;
  /** Fires when the client goes away. */
  signal: AbortSignal | undefined;
  /** Instead of a signal: receives a function that cancels the call (the client went away). */
  onCancel?(cancel: () => void): void;
  /** The body, at most readMaxBytes of it (ConnectError resource_exhausted beyond). */
  readBody(readMaxBytes: number): Promise<Uint8Array>;
}

/** An answer of the lean path; `headers` only on errors whose metadata adds some. */
export interface LeanUnaryAnswer {
  status: number;
  contentType: string;
  body: Uint8Array;
  headers?: Headers;
}

export type LeanUnaryCall = (request: LeanUnaryRequest) => Promise<LeanUnaryAnswer>;

/** The lean path apart from HTTP, so the API worker's forwarded calls take it too. */
export function createLeanUnaryCall<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  implementation: UnaryMethod,
  options: LeanUnaryOptions,
): LeanUnaryCall {
  const serialization = createMethodSerializationLookup(method, undefined, undefined, {
    readMaxBytes: options.readMaxBytes,
    writeMaxBytes: WRITE_MAX_BYTES,
  });
  const calls = new ActiveCalls(options.shutdownSignal);
  const fast = fastBinaryCodec(method);

  return async function leanUnaryCall(request: LeanUnaryRequest): Promise<LeanUnaryAnswer> {
    // leanCanServe matched contentTypeUnaryRegExp, so this is json or proto.
    const binary = !/json/i.test(request.contentType ?? "");
    const timeout = parseTimeout(request.timeout, Number.MAX_SAFE_INTEGER);
    const call = calls.begin(timeout.timeoutMs, request.signal);
    request.onCancel?.(() => calls.cancel(call, new ConnectError("the client went away", Code.Canceled)));
    try {
      if (options.requireConnectProtocolHeader) requireProtocolVersion(request.protocolVersion);
      if (timeout.error) throw timeout.error;
      const body = await request.readBody(options.readMaxBytes);
      const input = (binary && fast?.decode(body)) || parseInput(serialization.getI(binary), body);
      const output = (await implementation(input, { signal: call.signal, authorization: request.authorization ?? null })) as MessageShape<O>;
      const encoded = (binary && fast?.encode(output)) || serialization.getO(binary).serialize(output);
      return { status: 200, contentType: binary ? contentTypeUnaryProto : contentTypeUnaryJson, body: encoded };
    } catch (error) {
      return errorAnswer(error, options.log, method);
    } finally {
      calls.end(call);
    }
  };
}

export function fromFetchRequest(request: Request): LeanUnaryRequest {
  const headers = request.headers;
  return {
    contentType: headers.get(headerContentType),
    timeout: headers.get(headerTimeout),
    protocolVersion: headers.get(headerProtocolVersion),
    authorization: headers.get("authorization"),
    signal: request.signal,
    readBody: (readMaxBytes) => readBody(request, readMaxBytes),
  };
}

export function toResponse(answer: LeanUnaryAnswer): Response {
  const headers = answer.headers ?? { [headerContentType]: answer.contentType };
  return new Response(answer.body, { status: answer.status, headers });
}

/**
 * A body that was read whole already (the API worker's), checked as readBody
 * checks one; null = a body without a usable length whose reading stopped past the limit.
 */
export function checkReadBody(bytes: Uint8Array | null, contentLength: string | null, readMaxBytes: number): Uint8Array {
  const length = contentLength === null ? NaN : parseInt(contentLength, 10);
  if (bytes === null || !Number.isSafeInteger(length) || length < 0) {
    if (bytes === null || bytes.byteLength > readMaxBytes) {
      throw new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
    }
    return bytes;
  }
  if (length > readMaxBytes) {
    throw new ConnectError(`message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
  }
  if (bytes.byteLength !== length) {
    throw new ConnectError(`protocol error: promised ${length} bytes, received ${bytes.byteLength}`, Code.InvalidArgument);
  }
  return bytes;
}

function requireProtocolVersion(version: string | null): void {
  if (version === null) {
    throw new ConnectError(`missing required header: set ${headerProtocolVersion} to "${protocolVersion}"`, Code.InvalidArgument);
  }
  if (version !== protocolVersion) {
    throw new ConnectError(`${headerProtocolVersion} must be "${protocolVersion}": got "${version}"`, Code.InvalidArgument);
  }
}

/** The body, never more than readMaxBytes of it: a declared length over the limit is refused unread. */
async function readBody(request: Request, readMaxBytes: number): Promise<Uint8Array> {
  const lengthHeader = request.headers.get(headerUnaryContentLength);
  const length = lengthHeader === null ? NaN : parseInt(lengthHeader, 10);
  if (!Number.isSafeInteger(length) || length < 0) return readChunkedBody(request, readMaxBytes);
  if (length > readMaxBytes) return checkReadBody(new Uint8Array(0), lengthHeader, readMaxBytes);
  return checkReadBody(new Uint8Array(await request.arrayBuffer()), lengthHeader, readMaxBytes);
}

/** A body without a usable Content-Length, read chunk by chunk and abandoned once it passes the limit. */
async function readChunkedBody(request: Request, readMaxBytes: number): Promise<Uint8Array> {
  return checkReadBody(await readAtMost(request, readMaxBytes), null, readMaxBytes);
}

/** The whole body, read chunk by chunk; null once it passes maxBytes (the rest is left unread). */
export async function readAtMost(request: Request, maxBytes: number): Promise<Uint8Array | null> {
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) return null;
      chunks.push(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks, total);
}

function parseInput<T>(serialization: Serialization<T>, bytes: Uint8Array): T {
  try {
    return serialization.parse(bytes);
  } catch (error) {
    // connect-es reports undecodable binary as internal ("parse binary: ..."); it is the client's input.
    if (error instanceof ConnectError && error.code === Code.Internal) {
      throw new ConnectError(error.rawMessage, Code.InvalidArgument);
    }
    throw error;
  }
}

function errorAnswer(error: unknown, log: LogFn, method: DescMethodUnary): LeanUnaryAnswer {
  let connectError: ConnectError;
  if (error instanceof ConnectError) {
    connectError = error;
  } else {
    // Guarded methods only throw ConnectError; anything else is a fault of this file.
    log(`api: lean handler for ${method.parent.typeName}/${method.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    connectError = new ConnectError("internal error", Code.Internal, undefined, undefined, error);
  }
  const body = errorToJsonBytes(connectError, undefined);
  const status = codeToHttpStatus(connectError.code);
  let metadataCount = 0;
  connectError.metadata.forEach(() => void metadataCount++);
  if (connectError.isWireError || metadataCount === 0) return { status, contentType: contentTypeUnaryJson, body };
  const headers = new Headers({ [headerContentType]: contentTypeUnaryJson });
  mergeNonProtocolHeaders(headers, connectError.metadata);
  return { status, contentType: contentTypeUnaryJson, body, headers };
}
