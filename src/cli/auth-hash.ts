// `dkv auth hash`: reads a password (the first line of standard input) and
// prints its argon2id hash for an --auth-file entry, so no password is ever
// written to the file or shows in the process list.
import { defineCommand } from "citty";
import { UsageError } from "./errors.ts";

/** Longer passwords are refused rather than silently cut. */
const MAX_PASSWORD_BYTES = 1024;

const hashCommand = defineCommand({
  meta: { name: "hash", description: "Print the password_hash of a password read from standard input (for --auth-file)" },
  args: {},
  async run() {
    const input = await Bun.stdin.text();
    const password = input.split(/\r?\n/)[0] ?? "";
    if (password === "") throw new UsageError("no password on standard input: echo -n 'PASSWORD' | dkv auth hash");
    if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) throw new UsageError(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
    process.stdout.write(`${await Bun.password.hash(password, { algorithm: "argon2id" })}\n`);
  },
});

export const authCommand = defineCommand({
  meta: { name: "auth", description: "Password hashes for dkv serve --auth-file (users with roles read, write or admin)" },
  subCommands: { hash: hashCommand },
});
