// Sorts a failed attempt into what the retry loop may do next. The question
// that matters most is whether the request may have reached a server: a
// compare-and-swap that never left the client can go to another endpoint, one
// that may have arrived must not be sent again.
import { Code, ConnectError } from "@connectrpc/connect";

/**
 * - unreachable: never reached a server (refused, no such host, dial timeout, TLS handshake failed)
 * - untrusted:   certificate check failed; this endpoint is skipped for the rest of the call
 * - lost:        the request may have reached a server and no answer came (reset, attempt timeout)
 * - transient:   the server answered an error that another try may not get (unavailable, no leader yet)
 * - final:       the server answered an error that retrying will not change
 */
export type FailureKind = "unreachable" | "untrusted" | "lost" | "transient" | "final";

export interface Failure {
  kind: FailureKind;
  /** Connect code name ("unavailable") or a transport code ("ECONNREFUSED"). */
  code: string;
  /** One line, without the endpoint. */
  message: string;
}

/** A fetch-level failure, thrown by our fetch wrapper so the cause survives Connect's wrapping. */
export class TransportFailure extends Error {
  override name = "TransportFailure";
  constructor(
    readonly kind: "unreachable" | "untrusted" | "lost",
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The per-attempt timer fired: the request may be in flight on the server. */
export class AttemptTimeout extends Error {
  override name = "AttemptTimeout";
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs}ms`);
  }
}

const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ConnectionRefused", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "FailedToOpenSocket", "EADDRNOTAVAIL"]);
const CERTIFICATE_CODE = /CERT|SELF_SIGNED|UNABLE_TO_|ALTNAME|HOSTNAME_MISMATCH/;

/** Translates an error from Bun's fetch into a TransportFailure with a readable message. */
export function transportFailureFrom(error: unknown, secure: boolean): TransportFailure {
  const code = String((error as { code?: unknown })?.code ?? "");
  if (code === "ECONNREFUSED" || code === "ConnectionRefused") return new TransportFailure("unreachable", code, "connection refused");
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return new TransportFailure("unreachable", code, "host not found");
  if (UNREACHABLE_CODES.has(code)) return new TransportFailure("unreachable", code, `cannot connect (${code})`);
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return new TransportFailure("untrusted", code, "the server certificate does not name this host (ERR_TLS_CERT_ALTNAME_INVALID)");
  }
  if (CERTIFICATE_CODE.test(code)) return new TransportFailure("untrusted", code, `the server certificate is not trusted by the given CA (${code})`);
  if (code === "EPROTO") {
    return new TransportFailure("untrusted", code, "TLS handshake failed (does this endpoint speak TLS? is the client certificate accepted?)");
  }
  if (code === "ECONNRESET") {
    const hint = secure ? "the server may have refused the client certificate" : "if the endpoint uses TLS, pass --cacert";
    return new TransportFailure("lost", code, `connection reset (${hint})`);
  }
  const text = error instanceof Error ? error.message : String(error);
  return new TransportFailure("lost", code || "transport", firstLine(text));
}

const TRANSIENT_CODES = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.ResourceExhausted, Code.Aborted]);

/** Classifies whatever a Connect call threw. */
export function classifyFailure(error: unknown): Failure {
  const transport = findCause(error, TransportFailure);
  if (transport) return { kind: transport.kind, code: transport.code, message: transport.message };
  const timeout = findCause(error, AttemptTimeout);
  if (timeout) return { kind: "lost", code: "deadline_exceeded", message: timeout.message };
  if (error instanceof ConnectError) {
    const code = codeName(error.code);
    let message = firstLine(error.rawMessage || code);
    // connect-es's words for an answer that is not the Connect protocol at all: some other HTTP server,
    // or for 404 also a dkv member older than the method called.
    if (message === "HTTP 404") message += ": no such method here (an older dkv member, or not a dkv client port)";
    else if (/^HTTP \d{3}$|^unsupported content type /.test(message)) message += ": this is not a dkv client port (check the endpoint's host and port)";
    return { kind: TRANSIENT_CODES.has(error.code) ? "transient" : "final", code, message };
  }
  // Anything else (a broken body, a parse error) happened after the request was sent.
  return { kind: "lost", code: "unknown", message: firstLine(error instanceof Error ? error.message : String(error)) };
}

/** Connect code as the snake_case name the protocol uses on the wire ("invalid_argument"). */
export function codeName(code: Code): string {
  return (Code[code] ?? "unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

function findCause<T>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    if (current instanceof type) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.trim();
}
