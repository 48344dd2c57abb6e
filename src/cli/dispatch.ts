// Runs a citty command tree strictly: citty on its own accepts unknown flags
// and stray positionals silently and prints stack traces; here every mistake
// is one line on stderr and exit code 2, every other failure one line and a
// non-zero code. Every flag may also come from the environment as DKV_<FLAG>.
import { parseArgs, renderUsage, type ArgsDef, type CommandDef } from "citty";
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from "./errors.ts";

type AnyCommand = CommandDef<any>;

async function resolve<T>(value: T | Promise<T> | (() => T) | (() => Promise<T>) | undefined): Promise<T | undefined> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

async function nameOf(command: AnyCommand): Promise<string> {
  return (await resolve(command.meta))?.name ?? "";
}

/** Walks the argv down the subcommand tree; returns the chain of commands and the args left for the last. */
async function findCommand(root: AnyCommand, argv: string[]): Promise<{ chain: AnyCommand[]; rest: string[] }> {
  const chain = [root];
  let rest = argv;
  for (;;) {
    const current = chain[chain.length - 1]!;
    const subCommands = await resolve(current.subCommands);
    const next = rest[0];
    if (!subCommands || next === undefined || next.startsWith("-")) return { chain, rest };
    let found: AnyCommand | undefined;
    for (const [name, candidate] of Object.entries(subCommands)) {
      const command = (await resolve(candidate)) as AnyCommand;
      const meta = await resolve(command.meta);
      const aliases = meta?.alias === undefined ? [] : Array.isArray(meta.alias) ? meta.alias : [meta.alias];
      if (name === next || aliases.includes(next)) found = command;
    }
    if (!found) {
      if (current.run) return { chain, rest };
      throw new UsageError(`unknown command "${next}"`);
    }
    chain.push(found);
    rest = rest.slice(1);
  }
}

function envName(flag: string): string {
  return "DKV_" + flag.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/-/g, "_").toUpperCase();
}

/** Flags absent from argv are taken from DKV_* variables, as etcd does with ETCD_*. */
function withEnvironment(argv: string[], args: ArgsDef, env: Record<string, string | undefined>): string[] {
  const given = new Set(argv.filter((a) => a.startsWith("--")).map((a) => a.slice(2).split("=")[0]!.replace(/^no-/, "")));
  const extra: string[] = [];
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional" || given.has(name)) continue;
    const value = env[envName(name)];
    if (value === undefined || value === "") continue;
    if (def.type === "boolean") {
      if (!/^(1|0|true|false|yes|no)$/i.test(value)) throw new UsageError(`${envName(name)} must be true or false, not "${value}"`);
      extra.push(/^(1|true|yes)$/i.test(value) ? `--${name}` : `--no-${name}`);
    } else extra.push(`--${name}=${value}`);
  }
  return [...extra, ...argv];
}

/** Refuses flags the command does not declare and more positionals than it takes. */
function checkStrict(argv: string[], args: ArgsDef): void {
  const known = new Map<string, string>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    known.set(name, def.type ?? "string");
    const aliases = "alias" in def && def.alias !== undefined ? (Array.isArray(def.alias) ? def.alias : [def.alias]) : [];
    for (const alias of aliases) known.set(alias, def.type ?? "string");
  }
  const positionals = Object.values(args).filter((d) => d.type === "positional").length;
  let seenPositionals = 0;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      seenPositionals += argv.length - i - 1;
      break;
    }
    if (token.startsWith("-") && token !== "-") {
      const name = token.replace(/^--?/, "").split("=")[0]!;
      const type = known.get(name) ?? (name.startsWith("no-") && known.get(name.slice(3)) === "boolean" ? "boolean" : undefined);
      if (type === undefined) throw new UsageError(`unknown flag "${token.split("=")[0]}"`);
      if (type !== "boolean" && !token.includes("=")) {
        const value = argv[i + 1];
        if (value === undefined) throw new UsageError(`flag "${token}" needs a value`);
        i++;
      }
      continue;
    }
    seenPositionals++;
  }
  if (seenPositionals > positionals) throw new UsageError(`too many arguments`);
  let position = 0;
  for (const [name, def] of Object.entries(args)) {
    if (def.type !== "positional") continue;
    const required = def.required !== false && def.default === undefined;
    if (required && seenPositionals <= position) throw new UsageError(`missing argument ${name.toUpperCase()}`);
    position++;
  }
  for (const [name, def] of Object.entries(args)) {
    if (def.type !== "enum" || !def.options) continue;
    const value = flagValue(argv, name);
    if (value !== undefined && !def.options.includes(value)) {
      throw new UsageError(`--${name} must be one of ${def.options.join(", ")}, not "${value}"`);
    }
  }
}

/** The last value given for --name (as --name=v or --name v). */
function flagValue(argv: string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === `--${name}`) value = argv[i + 1];
    else if (token.startsWith(`--${name}=`)) value = token.slice(name.length + 3);
  }
  return value;
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
}

/** Runs the command line; returns the exit code instead of exiting so tests can call it. */
export async function dispatch(root: AnyCommand, argv: string[], io: Io, version: string): Promise<number> {
  let chain: AnyCommand[] = [root];
  try {
    if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
      io.stdout(version + "\n");
      return EXIT_OK;
    }
    const found = await findCommand(root, argv);
    chain = found.chain;
    const command = chain[chain.length - 1]!;
    const parent = chain.length > 1 ? chain[chain.length - 2] : undefined;
    if (found.rest.includes("--help") || found.rest.includes("-h")) {
      io.stdout((await renderUsage(command, parent)) + "\n");
      return EXIT_OK;
    }
    if (!command.run) {
      if (found.rest.length === 0 && chain.length === 1) {
        io.stdout((await renderUsage(command, parent)) + "\n");
        return EXIT_OK;
      }
      throw new UsageError(found.rest.length === 0 ? `missing command` : `unknown command "${found.rest[0]}"`);
    }
    const argsDef = ((await resolve(command.args)) ?? {}) as ArgsDef;
    const rawArgs = withEnvironment(found.rest, argsDef, io.env);
    checkStrict(rawArgs, argsDef);
    let args;
    try {
      args = parseArgs(rawArgs, argsDef);
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message.replace(/\x1b\[[0-9;]*m/g, "") : String(error));
    }
    await command.run({ rawArgs, args, cmd: command });
    return EXIT_OK;
  } catch (error) {
    return report(error, chain, io);
  }
}

async function report(error: unknown, chain: AnyCommand[], io: Io): Promise<number> {
  if (error instanceof UsageError) {
    const path = (await Promise.all(chain.map(nameOf))).join(" ");
    io.stderr(`${path}: ${error.message} (see '${path} --help')\n`);
    return EXIT_USAGE;
  }
  if (error instanceof CliError) {
    io.stderr(`dkv: ${error.message}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr(`dkv: ${message.split("\n")[0]}\n`);
  if (io.env.DKV_DEBUG && error instanceof Error && error.stack) io.stderr(error.stack + "\n");
  return EXIT_FAILURE;
}
