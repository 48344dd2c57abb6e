// The stock connect-es fetch handler for one RPC (every protocol, streaming,
// GET), with one correction so that both paths agree on the Connect unary
// wire: connect-es answers an undecodable binary body with internal
// ("parse binary: ..."), which blames the server for the client's bytes; it
// becomes invalid_argument here, as in lean-unary.ts and in connect-go.
// Only that error response is touched (a 500 JSON body, small by nature).
// gRPC-Web and streaming calls carry such an error in a trailer inside the
// streamed body and keep connect-es's code.
import { Code, ConnectError } from "@connectrpc/connect";
import { createFetchHandler, type UniversalHandler } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, contentTypeUnaryJson, errorToJsonBytes, headerContentType, headerUnaryContentLength } from "@connectrpc/connect/protocol-connect";
import type { FetchHandler } from "./lean-unary.js";

const PARSE_BINARY_PREFIX = "parse binary: ";

export function createStockHandler(handler: UniversalHandler): FetchHandler {
  const stock = createFetchHandler(handler);
  return async function handleStock(request: Request): Promise<Response> {
    const response = await stock(request);
    if (response.status !== 500 || response.headers.get(headerContentType) !== contentTypeUnaryJson) return response;
    return reclassifyParseError(response);
  };
}

async function reclassifyParseError(response: Response): Promise<Response> {
  const bytes = new Uint8Array(await response.arrayBuffer());
  const headers = new Headers(response.headers);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    parsed = undefined;
  }
  const body = parsed as { code?: unknown; message?: unknown } | undefined;
  if (body?.code !== "internal" || typeof body.message !== "string" || !body.message.startsWith(PARSE_BINARY_PREFIX)) {
    return new Response(bytes, { status: response.status, headers });
  }
  const corrected = errorToJsonBytes(new ConnectError(body.message, Code.InvalidArgument), undefined);
  headers.set(headerUnaryContentLength, String(corrected.byteLength));
  return new Response(corrected, { status: codeToHttpStatus(Code.InvalidArgument), headers });
}
