// Core bugs the simulator found that are reported (test/sim/FINDINGS.md) but
// not fixed yet. A run failing with exactly such a signature is printed loudly
// with its seed, and does not fail CI, so that every OTHER failure still does.
// DKV_SIM_STRICT=1 fails on these too. Remove an entry once its fix lands.

import type { SimResult } from "./simulation";

export interface KnownFinding {
  id: string;
  /** The failure's property ("crash" for an exception) and message, exactly as the run reports it. */
  property: string;
  message: RegExp;
  /** A seed that reproduces it (the first found). */
  seed: number;
}

export const OPEN_FINDINGS: readonly KnownFinding[] = [
  // None open. (F1, "install of snapshot N before all its chunks were staged", was fixed in f79fec9.)
];

export function knownFindingOf(result: SimResult): KnownFinding | undefined {
  const failure = result.failure;
  if (failure === undefined) return undefined;
  return OPEN_FINDINGS.find((f) => f.property === failure.property && f.message.test(failure.message));
}
