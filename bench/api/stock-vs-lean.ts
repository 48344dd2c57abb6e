// Stock connect-es fetch handler vs the lean unary path, same server code
// otherwise. The server runs in a child process (serve.ts) so its CPU time
// per request is measured apart from the load generator's.
//
//   bun bench/api/stock-vs-lean.ts [--seconds 3] [--concurrency 16] [--rounds 2]
//
// Prints, per case and mode: requests/s (wall clock, load generator on the
// same cores) and server CPU µs per request (user + system of the server
// process over the measured window / requests).
import { create, toBinary } from "@bufbuild/protobuf";
import { GetRequestSchema, SetRequestSchema } from "../../src/gen/dkv/v1/kv_pb.js";

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}
const SECONDS = flag("seconds", 3);
const CONCURRENCY = flag("concurrency", 16);
const ROUNDS = flag("rounds", 2);
const WARMUP_SECONDS = 0.5;

interface Case {
  name: string;
  path: string;
  contentType: string;
  body: Uint8Array;
}

const encoder = new TextEncoder();
const CASES: Case[] = [
  { name: "Get binary", path: "/dkv.v1.DkvAPI/Get", contentType: "application/proto", body: toBinary(GetRequestSchema, create(GetRequestSchema, { key: "bench-key" })) },
  { name: "Get JSON", path: "/dkv.v1.DkvAPI/Get", contentType: "application/json", body: encoder.encode('{"key":"bench-key"}') },
  {
    name: "Set binary 100 B",
    path: "/dkv.v1.DkvAPI/Set",
    contentType: "application/proto",
    body: toBinary(SetRequestSchema, create(SetRequestSchema, { key: "bench-set", value: new Uint8Array(100).fill(121) })),
  },
];

class ServerProcess {
  private lines: string[] = [];
  private waiters: ((line: string) => void)[] = [];
  private constructor(private readonly child: Bun.Subprocess<"pipe", "pipe", "inherit">) {
    void this.read();
  }
  static async start(lean: boolean): Promise<{ server: ServerProcess; port: number }> {
    const args = ["bun", `${import.meta.dir}/serve.ts`, ...(lean ? ["--lean"] : [])];
    const server = new ServerProcess(Bun.spawn(args, { stdin: "pipe", stdout: "pipe", stderr: "inherit" }));
    const { port } = JSON.parse(await server.nextLine()) as { port: number };
    return { server, port };
  }
  async cpuMicros(): Promise<number> {
    this.child.stdin.write("cpu\n");
    this.child.stdin.flush();
    const usage = JSON.parse(await this.nextLine()) as { userMicros: number; systemMicros: number };
    return usage.userMicros + usage.systemMicros;
  }
  async stop(): Promise<void> {
    this.child.stdin.write("exit\n");
    this.child.stdin.end();
    await this.child.exited;
  }
  private nextLine(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  private async read(): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of this.child.stdout) {
      pending += decoder.decode(chunk);
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        const waiter = this.waiters.shift();
        if (waiter !== undefined) waiter(line);
        else this.lines.push(line);
      }
    }
  }
}

/** Keeps CONCURRENCY requests in flight for `seconds`; returns how many completed. */
async function load(url: string, benchCase: Case, seconds: number): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let completed = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const response = await fetch(url, { method: "POST", headers: { "Content-Type": benchCase.contentType }, body: benchCase.body });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`${benchCase.name}: HTTP ${response.status}`);
      completed++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return completed;
}

interface Result {
  requestsPerSecond: number;
  serverCpuMicrosPerRequest: number;
}

async function measure(lean: boolean, benchCase: Case): Promise<Result> {
  const { server, port } = await ServerProcess.start(lean);
  try {
    const url = `http://127.0.0.1:${port}${benchCase.path}`;
    await load(url, benchCase, WARMUP_SECONDS);
    const cpuBefore = await server.cpuMicros();
    const started = performance.now();
    const requests = await load(url, benchCase, SECONDS);
    const elapsedSeconds = (performance.now() - started) / 1000;
    const cpuAfter = await server.cpuMicros();
    return { requestsPerSecond: requests / elapsedSeconds, serverCpuMicrosPerRequest: (cpuAfter - cpuBefore) / requests };
  } finally {
    await server.stop();
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

console.log(`bun ${Bun.version}, ${navigator.hardwareConcurrency} cores, ${CONCURRENCY} concurrent requests, ${SECONDS}s x ${ROUNDS} rounds per cell (medians)`);
console.log("case               mode    req/s    server CPU µs/req");
for (const benchCase of CASES) {
  const results: Record<"stock" | "lean", Result[]> = { stock: [], lean: [] };
  // Alternate modes so drift in machine load hits both alike.
  for (let round = 0; round < ROUNDS; round++) {
    results.stock.push(await measure(false, benchCase));
    results.lean.push(await measure(true, benchCase));
  }
  for (const mode of ["stock", "lean"] as const) {
    const rps = median(results[mode].map((result) => result.requestsPerSecond));
    const cpu = median(results[mode].map((result) => result.serverCpuMicrosPerRequest));
    console.log(`${benchCase.name.padEnd(18)} ${mode.padEnd(6)} ${rps.toFixed(0).padStart(7)}    ${cpu.toFixed(1).padStart(6)}`);
  }
}
