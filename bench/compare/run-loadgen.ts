// Runs one load generator process (loadgen.ts) and returns what it measured;
// killed if it outlives its run by slackMs.

import { join } from "node:path";
import { PURGE_DELAY_VARIABLE, SERVE_PURGE_DELAY } from "../../src/cli/allocator-settings.ts";
import type { LoadConfig, LoadResult } from "./loadgen.ts";
import { track } from "./procs.ts";

const LOADGEN = join(import.meta.dir, "loadgen.ts");
/**
 * The allocator setting `dkv serve` gives itself (src/cli/allocator-settings.ts),
 * for the load generator too: with Bun's default, its "mi-scavenger" and
 * "JSCWarmUp" threads took ~2.6% of the machine in a 256-client put point
 * (perf record -a), CPU the measured servers then did not have.
 */
const LOADGEN_ENV = { ...process.env, [PURGE_DELAY_VARIABLE]: SERVE_PURGE_DELAY };

export async function runLoadgen(config: LoadConfig, slackMs: number): Promise<LoadResult> {
  const child = track(Bun.spawn([process.execPath, LOADGEN, JSON.stringify(config)], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: LOADGEN_ENV }));
  const timer = setTimeout(() => child.kill("SIGKILL"), config.warmupMs + config.measureMs + slackMs);
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  const line = out.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`load generator failed (exit ${code}): ${(err || out).trim().split("\n").slice(-8).join("\n")}`);
  return JSON.parse(line) as LoadResult;
}
