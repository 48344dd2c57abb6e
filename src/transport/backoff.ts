// Reconnect delays: exponential from `initialMs`, capped at `maxMs`, with
// "equal jitter" (half fixed, half random) so peers that lost a node at the
// same moment do not all redial in lockstep, yet never retry instantly.

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** Delay before retry number `failures` (1 = after the first failure). `random` is in [0, 1). */
export function backoffDelayMs(failures: number, policy: BackoffPolicy, random: number = Math.random()): number {
  const exponent = Math.max(0, Math.min(failures - 1, 30)); // 2^30 already dwarfs any cap
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** exponent);
  return ceiling / 2 + random * (ceiling / 2);
}
