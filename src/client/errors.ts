// What the client throws. Every message is one line a person can act on:
// which key, which endpoints, what happened last. `code` is stable for
// programs; the message is for people.

/** Base class: every error the client throws on purpose is one of these. */
export class DkvClientError extends Error {
  override name = "DkvClientError";
  constructor(
    message: string,
    /** A stable machine-readable reason, e.g. "outcome_unknown", or a Connect code name from the server. */
    readonly code: string,
  ) {
    super(message);
  }
}

/** An endpoint could not be parsed (the CLI turns this into a usage error). */
export class EndpointSyntaxError extends DkvClientError {
  override name = "EndpointSyntaxError";
  constructor(
    readonly endpoint: string,
    reason: string,
  ) {
    super(`bad endpoint "${endpoint}": ${reason}`, "invalid_endpoint");
  }
}

/** The server answered with an error that retrying would not fix (invalid_argument, failed_precondition, ...). */
export class ServerError extends DkvClientError {
  override name = "ServerError";
  constructor(
    message: string,
    code: string,
    readonly endpoint: string,
  ) {
    super(message, code);
  }
}

/**
 * A non-idempotent request (compare-and-swap, a membership change) may have
 * reached a server and then its answer was lost: it may or may not have been
 * applied. It is never retried automatically, because running it twice could
 * go unnoticed; the caller must read the state and decide.
 */
export class OutcomeUnknownError extends DkvClientError {
  override name = "OutcomeUnknownError";
  constructor(
    readonly operation: string,
    readonly endpoint: string,
    readonly causeText: string,
  ) {
    super(
      `outcome unknown: ${operation} may have reached ${endpoint} before it failed (${causeText}); it may or may not have been applied, read the current state before retrying`,
      "outcome_unknown",
    );
  }
}

/** No endpoint answered within the deadline, or every endpoint failed for good. */
export class ClusterUnavailableError extends DkvClientError {
  override name = "ClusterUnavailableError";
  constructor(
    readonly operation: string,
    readonly endpointsTried: readonly string[],
    readonly lastCause: string,
    reason: string,
  ) {
    super(`${operation} failed: ${reason} (tried ${endpointsTried.join(", ") || "no endpoint"}); last error: ${lastCause}`, "unavailable");
  }
}

/** A snapshot stream ended without a checksum, or its bytes did not match it. */
export class SnapshotIntegrityError extends DkvClientError {
  override name = "SnapshotIntegrityError";
  constructor(message: string) {
    super(message, "snapshot_integrity");
  }
}

/** A file on this machine could not be written (a backup to a full disk, a directory that does not exist): never retried elsewhere. */
export class LocalFileError extends DkvClientError {
  override name = "LocalFileError";
  constructor(message: string) {
    super(message, "local_file");
  }
}
