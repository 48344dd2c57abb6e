// What each layer of dkv's API path costs per Set call, apart from raft and
// storage: the same put load (bench/compare's load generator, HTTP/1.1, one
// call in flight per connection) against a bare Bun.serve, then one layer
// more at a time (layer-server.ts), the modes alternated and repeated, and
// the medians of the server's CPU per call printed.
//
//   bun run bench/api/layers.ts [--clients 64] [--seconds 5] [--repeats 3] [--modes bare,headers,...]
//
// LAYERS_CPU_PROF_DIR=dir: each server runs under `bun --cpu-prof`, profiles in dir/<mode>.
import { join } from "node:path";
import { parseArgs } from "node:util";
import { median, putPoint } from "../compare/put-point.ts";
import { runLoadgen } from "../compare/run-loadgen.ts";
import { LAYER_MODES, type LayerMode } from "./layer-server.ts";

const SERVER = join(import.meta.dir, "layer-server.ts");
const LOADGEN_SLACK_MS = 30_000;

interface Sample {
  callsPerSec: number;
  serverUs: number;
  loadgenUs: number;
}

async function sample(mode: LayerMode, clients: number, seconds: number): Promise<Sample> {
  // LAYERS_CPU_PROF_DIR=dir: each server writes a CPU profile there (bench/compare/profile.ts reads it).
  const profileDir = process.env.LAYERS_CPU_PROF_DIR;
  const profile = profileDir ? ["--cpu-prof", "--cpu-prof-dir", join(profileDir, mode)] : [];
  const child = Bun.spawn([process.execPath, ...profile, SERVER, mode], { stdout: "pipe", stderr: "inherit" });
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    const { port } = JSON.parse(new TextDecoder().decode(value).split("\n")[0]!) as { port: number };
    const endpoint = { host: "127.0.0.1", port };
    const result = await runLoadgen(
      putPoint({ leader: endpoint, members: [endpoint], clients, warmupMs: 1_000, measureMs: seconds * 1000, serverPids: [child.pid] }),
      LOADGEN_SLACK_MS,
    );
    if (result.errors > 0) throw new Error(`${mode}: ${result.errors} errors, e.g. ${result.errorSamples[0]}`);
    return { callsPerSec: result.opsPerSec, serverUs: (result.serverCpuPct[0]! / 100 / result.opsPerSec) * 1e6, loadgenUs: result.loadgenCpuUsPerOp };
  } finally {
    child.kill("SIGTERM");
    await child.exited;
  }
}

const { values } = parseArgs({ options: { clients: { type: "string", default: "64" }, seconds: { type: "string", default: "5" }, repeats: { type: "string", default: "3" }, modes: { type: "string", default: LAYER_MODES.join(",") } } });
const clients = Number(values.clients);
const seconds = Number(values.seconds);
const repeats = Number(values.repeats);
const modes = values.modes.split(",") as LayerMode[];
for (const mode of modes) if (!LAYER_MODES.includes(mode)) throw new Error(`--modes: unknown mode ${mode} (known: ${LAYER_MODES.join(", ")})`);
const samples = new Map<LayerMode, Sample[]>(modes.map((m) => [m, []]));
for (let i = 0; i < repeats; i++) {
  for (const mode of modes) samples.get(mode)!.push(await sample(mode, clients, seconds));
}
console.log(`Set calls, ${clients} clients, ${repeats} alternated repeats of ${seconds} s, medians:`);
for (const mode of modes) {
  const s = samples.get(mode)!;
  console.log(
    `${mode.padEnd(9)} ${String(Math.round(median(s.map((x) => x.callsPerSec)))).padStart(7)} calls/s  server ${median(s.map((x) => x.serverUs)).toFixed(1).padStart(5)} µs/call` +
      `  (${s.map((x) => x.serverUs.toFixed(1)).join(", ")})  load generator ${median(s.map((x) => x.loadgenUs)).toFixed(1)} µs/call`,
  );
}
console.log(`reproduce: bun run bench/api/layers.ts --clients ${clients} --seconds ${seconds} --repeats ${repeats} --modes ${modes.join(",")}`);
