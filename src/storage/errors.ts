// Two kinds of failure in storage: a StorageError is something a person can act
// on (wrong data dir, locked, bad snapshot) and names the path; a
// StorageInvariantError is a bug or corruption and stops the node loudly
// instead of letting it write a state it cannot explain.

export type StorageErrorCode =
  | "not_a_directory"
  | "not_dkv"
  | "newer_schema"
  | "locked"
  | "identity_mismatch"
  | "corrupt"
  | "snapshot_missing"
  | "snapshot_invalid"
  | "io";

/** A refusal a person must act on. The message is one line and names the path. */
export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    /** The file or directory the error is about. */
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = "StorageError";
  }
}

/** A broken invariant: a bug in the caller or in storage, or a damaged file. */
export class StorageInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StorageInvariantError";
  }
}

/**
 * SQLite's word that a database file is damaged, as a refusal that names the
 * file and says how to get the member back; any other error is returned as is.
 */
export function describeCorruption(error: unknown, databasePath: string): unknown {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string" || !/^SQLITE_(CORRUPT|NOTADB)/.test(code)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new StorageError(
    "corrupt",
    databasePath,
    `${databasePath} is damaged (${reason}); restore this member from a backup (dkv snapshot restore), or remove it from the cluster (dkv member remove) and add it back with an empty data dir`,
  );
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new StorageInvariantError(message);
}
