// The flags every client command shares (each also readable as DKV_* from
// the environment, by dispatch.ts), and turning them into a client. Bad
// endpoint syntax or a bad duration is a usage error (exit 2) before any
// network traffic; every client failure becomes one line and exit 1.
import type { ArgsDef } from "citty";
import { CliError, UsageError } from "../errors.ts";
import { createDkvClient, DkvClientError, EndpointSyntaxError, readTlsFiles, type DkvClient } from "../../client/index.ts";
import { parseDurationMs } from "./duration.ts";

export const DEFAULT_ENDPOINTS = "127.0.0.1:2379";

export const clientArgs = {
  endpoints: { type: "string", default: DEFAULT_ENDPOINTS, description: "Comma-separated host:port of cluster members (DKV_ENDPOINTS)" },
  cacert: { type: "string", description: "CA certificate file that signed the servers' certificates; turns on TLS" },
  cert: { type: "string", description: "Client certificate file, for mutual TLS (with --key)" },
  key: { type: "string", description: "Client private key file (with --cert)" },
  user: { type: "string", description: "NAME or NAME:PASSWORD of a user in the members' --auth-file (DKV_USER)" },
  password: { type: "string", description: "The user's password, if not after NAME: (DKV_PASSWORD keeps it out of the process list)" },
  "command-timeout": { type: "string", default: "5s", description: "Deadline for the whole command, retries included (e.g. 5s, 500ms)" },
  // A string checked here, not citty's "enum": citty throws its own (coloured, exit 1) error for a bad enum value.
  output: { type: "string", default: "table", valueHint: "table|json", description: "Output format: table or json (one JSON document)" },
} as const satisfies ArgsDef;

export type OutputFormat = "table" | "json";

export interface ClientFlags {
  endpoints: string;
  cacert?: string;
  cert?: string;
  key?: string;
  user?: string;
  password?: string;
  "command-timeout": string;
  output: string;
}

/** Builds a client from the shared flags; usage mistakes become UsageError. */
export async function clientFromFlags(flags: ClientFlags): Promise<DkvClient> {
  outputFormat(flags);
  const commandTimeoutMs = parseDurationMs(flags["command-timeout"], "--command-timeout");
  if (Boolean(flags.cert) !== Boolean(flags.key)) throw new UsageError("--cert and --key go together: give both or neither");
  const tls = await readTlsFiles({ cacert: flags.cacert, cert: flags.cert, key: flags.key }).catch(toCliError);
  try {
    return createDkvClient({ endpoints: flags.endpoints, ...tls, ...userFromFlags(flags), commandTimeoutMs });
  } catch (error) {
    return toCliError(error);
  }
}

/** --user NAME:PASSWORD, or --user NAME with --password (or DKV_PASSWORD). */
function userFromFlags(flags: ClientFlags): { user?: string; password?: string } {
  if (flags.user === undefined || flags.user === "") {
    if (flags.password !== undefined) throw new UsageError("--password needs --user NAME");
    return {};
  }
  const colon = flags.user.indexOf(":");
  const user = colon < 0 ? flags.user : flags.user.slice(0, colon);
  const password = colon < 0 ? flags.password : flags.user.slice(colon + 1);
  if (user === "") throw new UsageError("--user needs a name: NAME or NAME:PASSWORD");
  if (password === undefined) throw new UsageError(`--user ${user} needs a password: --user ${user}:PASSWORD, --password or DKV_PASSWORD`);
  return { user, password };
}

export function outputFormat(flags: ClientFlags): OutputFormat {
  if (flags.output !== "json" && flags.output !== "table") throw new UsageError(`--output must be table or json, not "${flags.output}"`);
  return flags.output;
}

/** Runs a command body with a client; client errors become one-line CLI errors. */
export async function withClient<T>(flags: ClientFlags, body: (client: DkvClient, output: OutputFormat) => Promise<T>): Promise<T> {
  const client = await clientFromFlags(flags);
  try {
    return await body(client, outputFormat(flags));
  } catch (error) {
    return toCliError(error);
  }
}

/** EndpointSyntaxError is the user's typo (exit 2); other client errors are failures (exit 1); anything else passes through. */
export function toCliError(error: unknown): never {
  if (error instanceof EndpointSyntaxError) throw new UsageError(error.message);
  if (error instanceof DkvClientError) throw new CliError(error.message, 1);
  throw error;
}

/** A VALUE argument: "-" means read all of standard input (bytes, unchanged). */
export async function readValueArgument(value: string): Promise<Uint8Array> {
  if (value !== "-") return new TextEncoder().encode(value);
  return new Uint8Array(await Bun.stdin.arrayBuffer());
}

/** A non-negative integer flag; `undefined` when absent. */
export function parseCount(text: string | undefined, flag: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag} must be a whole number, not "${text}"`);
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value)) throw new UsageError(`${flag} is too large: ${text}`);
  return value;
}
