// A planned command that does not exist yet: it says so and exits non-zero
// instead of silently doing nothing.
import { defineCommand, type CommandDef } from "citty";
import { CliError } from "./errors.ts";

export function notBuilt(name: string, description: string): CommandDef<any> {
  return defineCommand({
    meta: { name, description: `${description} (not built yet)` },
    args: {},
    run() {
      throw new CliError(`"dkv ${name}" is not built yet in this version`);
    },
  });
}
