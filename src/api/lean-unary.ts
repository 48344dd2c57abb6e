// The lean path for unary Connect-protocol POSTs (application/proto and
// application/json): buffer the body with one arrayBuffer(), decode, call the
// guarded method, encode, answer with one Response. The stock connect-es
// fetch handler pipes the same request through async iterables and a
// ReadableStream, which costs ~160 µs of CPU per call on Bun (BUN-NOTES).
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
import {
  createMethodSerializationLookup,
  mergeNonProtocolHeaders,
  type Serialization,
} from "@connectrpc/connect/protocol";
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

export function createLeanUnaryHandler<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O>,
  implementation: UnaryMethod,
  options: LeanUnaryOptions,
): FetchHandler {
  const serialization = createMethodSerializationLookup(method, undefined, undefined, {
    readMaxBytes: options.readMaxBytes,
    writeMaxBytes: WRITE_MAX_BYTES,
  });
  const calls = new ActiveCalls(options.shutdownSignal);

  return async function handleLeanUnary(request: Request): Promise<Response> {
    // leanCanServe matched contentTypeUnaryRegExp, so this is json or proto.
    const binary = !/json/i.test(request.headers.get(headerContentType) ?? "");
    const timeout = parseTimeout(request.headers.get(headerTimeout), Number.MAX_SAFE_INTEGER);
    const call = calls.begin(timeout.timeoutMs, request.signal);
    try {
      if (options.requireConnectProtocolHeader) requireProtocolVersionHeader(request.headers);
      if (timeout.error) throw timeout.error;
      const body = await readBody(request, options.readMaxBytes);
      const input = parseInput(serialization.getI(binary), body);
      const output = (await implementation(input, { signal: call.signal })) as MessageShape<O>;
      return new Response(serialization.getO(binary).serialize(output), {
        status: 200,
        headers: { [headerContentType]: binary ? contentTypeUnaryProto : contentTypeUnaryJson },
      });
    } catch (error) {
      return errorResponse(error, options.log, method);
    } finally {
      calls.end(call);
    }
  };
}

function requireProtocolVersionHeader(headers: Headers): void {
  const version = headers.get(headerProtocolVersion);
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
  if (length > readMaxBytes) {
    throw new ConnectError(`message size ${length} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
  }
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.byteLength !== length) {
    throw new ConnectError(`protocol error: promised ${length} bytes, received ${bytes.byteLength}`, Code.InvalidArgument);
  }
  return bytes;
}

/** A body without a usable Content-Length, read chunk by chunk and abandoned once it passes the limit. */
async function readChunkedBody(request: Request, readMaxBytes: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > readMaxBytes) {
        throw new ConnectError(`message size is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted);
      }
      chunks.push(value);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
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

function errorResponse(error: unknown, log: LogFn, method: DescMethodUnary): Response {
  let connectError: ConnectError;
  if (error instanceof ConnectError) {
    connectError = error;
  } else {
    // Guarded methods only throw ConnectError; anything else is a fault of this file.
    log(`api: lean handler for ${method.parent.typeName}/${method.name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    connectError = new ConnectError("internal error", Code.Internal, undefined, undefined, error);
  }
  const headers = new Headers({ [headerContentType]: contentTypeUnaryJson });
  if (!connectError.isWireError) mergeNonProtocolHeaders(headers, connectError.metadata);
  return new Response(errorToJsonBytes(connectError, undefined), { status: codeToHttpStatus(connectError.code), headers });
}
