// Long chaos runs for people: `bun run test/chaos/run.ts --nodes 5 --duration 300 --seed 7`.
// Runs random faults for --duration seconds (or, without it, every fault kind
// once), prints the report, and exits 1 if anything failed; a failed run's
// history, report and member logs are saved (the path is printed). Uses
// dist/dkv (`npm run build` first) or the binary in DKV_CHAOS_BINARY. Needs
// root, iproute2, nftables and gcc (it builds the power cuts' disk model).
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { BINARY } from "../e2e/cluster.ts";
import { ALL_FAULTS, type FaultKind } from "./nemesis.ts";
import { describeReport, runScenario } from "./scenario.ts";

const USAGE = "usage: bun run test/chaos/run.ts [--nodes 3|5|N] [--duration SECONDS] [--seed N] [--clients N] [--keys N] [--hold-min MS] [--hold-max MS] [--faults KIND,KIND...]";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      nodes: { type: "string", default: "3" },
      duration: { type: "string" },
      seed: { type: "string" },
      clients: { type: "string" },
      keys: { type: "string" },
      "hold-min": { type: "string" },
      "hold-max": { type: "string" },
      faults: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const number = (flag: string, text: string | undefined, min: number): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${flag} must be an integer >= ${min}, not "${text}"\n${USAGE}`);
    return n;
  };
  const binary = process.env.DKV_CHAOS_BINARY ?? BINARY;
  if (!existsSync(binary)) throw new Error(`no dkv binary at ${binary}: run \`npm run build\` or set DKV_CHAOS_BINARY`);
  const seed = number("seed", values.seed, 0) ?? Math.floor(Math.random() * 2 ** 32);
  const durationS = number("duration", values.duration, 1);
  const faults = values.faults?.split(",").map((f) => f.trim()) ?? [];
  const unknown = faults.filter((f) => !(ALL_FAULTS as readonly string[]).includes(f));
  if (unknown.length > 0) throw new Error(`unknown fault ${unknown.join(", ")}: choose from ${ALL_FAULTS.join(", ")}\n${USAGE}`);
  const options = {
    size: number("nodes", values.nodes, 1)!,
    seed,
    ...(durationS !== undefined ? { durationMs: durationS * 1000 } : {}),
    ...optional("clientsCount", number("clients", values.clients, 1)),
    ...optional("keysCount", number("keys", values.keys, 1)),
    ...optional("holdMsMin", number("hold-min", values["hold-min"], 100)),
    ...optional("holdMsMax", number("hold-max", values["hold-max"], 100)),
    ...(faults.length > 0 ? { faults: faults as FaultKind[] } : {}),
  };
  console.log(`chaos: ${options.size} members, seed ${seed}${durationS ? `, ${durationS} s of faults` : ", each fault once"} ...`);
  return runScenario(options).then((report) => {
    console.log(describeReport(report));
    console.log(report.failures.length === 0 ? "PASS" : "FAIL");
    return report.failures.length === 0 ? 0 : 1;
  });
}

function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(2);
  },
);
