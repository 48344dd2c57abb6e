// The --consistency flag shared by the read commands.
import type { Consistency } from "../../client/index.ts";
import { UsageError } from "../errors.ts";

// A string checked here, not citty's "enum": citty throws its own (coloured, exit 1) error for a bad enum value.
export const consistencyArg = {
  type: "string" as const,
  default: "l",
  valueHint: "l|s",
  description: "l: linearizable (default, sees every acknowledged write); s: serializable (local, may be stale)",
};

export function parseConsistency(value: string): Consistency {
  if (value === "l" || value === "linearizable") return "linearizable";
  if (value === "s" || value === "serializable") return "serializable";
  throw new UsageError(`--consistency must be l (linearizable) or s (serializable), not "${value}"`);
}
