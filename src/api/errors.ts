// How failures leave the API: a NodeError keeps its code and message, a
// cancelled call says why (deadline or client gone), and anything else is a
// bug that is logged here and reaches the client only as a generic
// "internal error" (never a stack trace or an internal detail).
import { Code, ConnectError } from "@connectrpc/connect";
import { NodeError, type ErrorCode } from "../server/contract.js";
import type { CancelSignal } from "../server/cancel-signal.js";

const CODE_BY_NAME: Record<ErrorCode, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  unavailable: Code.Unavailable,
  deadline_exceeded: Code.DeadlineExceeded,
  permission_denied: Code.PermissionDenied,
  resource_exhausted: Code.ResourceExhausted,
  aborted: Code.Aborted,
  internal: Code.Internal,
  unknown: Code.Unknown,
};

export const INTERNAL_ERROR_MESSAGE = "internal error; the server log has the details";

export type LogFn = (line: string) => void;

export function invalidArgument(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/**
 * Why a call whose signal fired was stopped. The deadline signal carries a
 * ConnectError(deadline_exceeded) already; a client that went away does not.
 */
export function abortReasonToConnectError(reason: unknown): ConnectError {
  if (reason instanceof ConnectError) return reason;
  return new ConnectError("the request was canceled: the client went away or the server is stopping", Code.Canceled);
}

/** The error a client sees for `error`, thrown while serving `procedure` (e.g. "dkv.v1.DkvAPI/Get"). */
export function toConnectError(error: unknown, signal: CancelSignal, procedure: string, log: LogFn): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof NodeError) {
    // An unknown code string from a forwarded answer must not turn into a crash.
    const code = CODE_BY_NAME[error.code] ?? Code.Unknown;
    return new ConnectError(error.message, code);
  }
  // The node may reject with its own AbortError once our signal fired; the
  // signal's reason is the truthful answer then, not "internal".
  if (signal.aborted) return abortReasonToConnectError(signal.reason);
  const detail = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  log(`api: ${procedure} failed with an unexpected error: ${detail}`);
  return new ConnectError(INTERNAL_ERROR_MESSAGE, Code.Internal);
}
