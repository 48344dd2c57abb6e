// Durations as people write them on a command line: "5s", "500ms", "1m30s".
// A bare number is refused: "5" could mean seconds or milliseconds.
import { UsageError } from "../errors.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationMs(text: string, flag: string): number {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  const consumed = parts.map((p) => p[0]).join("");
  if (parts.length === 0 || consumed !== text.trim()) {
    throw new UsageError(`${flag} must be a duration like 5s, 500ms or 1m30s, not "${text}"`);
  }
  const totalMs = Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0));
  if (totalMs <= 0) throw new UsageError(`${flag} must be longer than 0, not "${text}"`);
  return totalMs;
}
