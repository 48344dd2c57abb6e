// Every client connection holds a file descriptor. At the process's limit, Bun
// 1.4.5's listener retries accept() in a busy loop (oven-sh/bun#32705): one
// core at 100% and no new connections until some close. Bun raises the soft
// limit to the hard one at start, so what is left to check is the hard limit,
// which the operator sets (systemd's LimitNOFILE, `ulimit -Hn`, the container).

/** Below this many descriptors a member warns at start (systemd/dkv.service sets 65536). */
export const RECOMMENDED_OPEN_FILES = 4096;

/** The soft limit on open files from /proc/self/limits; undefined when unlimited or unreadable. */
export function readOpenFileLimit(limitsText: string): number | undefined {
  const line = limitsText.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  if (soft === undefined || !/^\d+$/.test(soft)) return undefined;
  return Number(soft);
}

/** A one-line warning when the limit leaves room for too few client connections, else undefined. */
export function openFileLimitWarning(limit: number | undefined): string | undefined {
  if (limit === undefined || limit >= RECOMMENDED_OPEN_FILES) return undefined;
  return (
    `the open-file limit is ${limit}: each client connection takes one, and at the limit new connections wait while a core spins; ` +
    `raise it to ${RECOMMENDED_OPEN_FILES} or more (systemd LimitNOFILE=, ulimit -n)`
  );
}

export async function currentOpenFileLimit(): Promise<number | undefined> {
  try {
    return readOpenFileLimit(await Bun.file("/proc/self/limits").text());
  } catch {
    return undefined; // not Linux, or /proc not mounted: nothing to check
  }
}
