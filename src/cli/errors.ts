// Errors the CLI turns into one line on stderr and an exit code.

/** The command line itself is wrong (unknown flag, missing argument): exit 2 with a usage hint. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The command ran and failed for a reason the user can act on; carries its exit code. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Exit codes documented in the README. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
