// Runs one load generator process (loadgen.ts) and returns what it measured;
// killed if it outlives its run by slackMs.

import { join } from "node:path";
import type { LoadConfig, LoadResult } from "./loadgen.ts";
import { track } from "./procs.ts";

const LOADGEN = join(import.meta.dir, "loadgen.ts");

export async function runLoadgen(config: LoadConfig, slackMs: number): Promise<LoadResult> {
  const child = track(Bun.spawn([process.execPath, LOADGEN, JSON.stringify(config)], { stdin: "ignore", stdout: "pipe", stderr: "pipe" }));
  const timer = setTimeout(() => child.kill("SIGKILL"), config.warmupMs + config.measureMs + slackMs);
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  const line = out.trim().split("\n").pop() ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`load generator failed (exit ${code}): ${(err || out).trim().split("\n").slice(-8).join("\n")}`);
  return JSON.parse(line) as LoadResult;
}
