// Capped exponential backoff between passes over the endpoints. A pass tries
// every endpoint once without waiting (a dead node should not delay the live
// one); the wait grows between passes so a cluster in an election is not
// hammered, and never exceeds BACKOFF_MAX_MS.

export const BACKOFF_INITIAL_MS = 50;
export const BACKOFF_MAX_MS = 1000;
const BACKOFF_JITTER_FRACTION = 0.2;

/** Wait before pass `passNumber` (1 = the second pass), with ±20% jitter so clients spread out. */
export function backoffMs(passNumber: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_INITIAL_MS * 2 ** Math.max(0, passNumber - 1));
  const jitter = 1 + (Math.random() * 2 - 1) * BACKOFF_JITTER_FRACTION;
  return Math.min(BACKOFF_MAX_MS, Math.round(base * jitter));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
