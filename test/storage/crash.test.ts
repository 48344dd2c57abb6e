// kill -9 at random moments, then check that what the child said was durable
// is there and that the state is one a correct node could be in.
// Replay a failure with DKV_CRASH_SEED=<seed> (the seed is printed on failure).

import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { openStorage } from "../../src/storage";
import { commandAt, expectedState, seededRandom } from "./crash-model";
import { cleanUpAfterEachTest, dumpKv, replayCommitted, tempDir, text } from "./helpers";

cleanUpAfterEachTest();

const KILLS = 60;
const SEED = Number(process.env.DKV_CRASH_SEED ?? 0x5eed2024);
/** How long the child runs after it reported ready, before SIGKILL. */
const RUN_MS_MIN = 2;
const RUN_MS_MAX = 150;

interface Reported {
  commit: number;
  term: number;
  snapshot: number;
}

async function runChildUntilKilled(dir: string, childSeed: number, runMs: number): Promise<string> {
  const child = Bun.spawn(["bun", "run", join(import.meta.dir, "crash-child.ts"), dir, String(childSeed)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const decoder = new TextDecoder();
  let output = "";
  let ready: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const reading = (async () => {
    for await (const chunk of child.stdout) {
      output += decoder.decode(chunk, { stream: true });
      if (output.startsWith("R ")) ready();
    }
  })();
  const exitedEarly = child.exited.then(() => "exited" as const);
  if ((await Promise.race([readyPromise.then(() => "ready" as const), exitedEarly])) === "exited") {
    await reading;
    throw new Error(`crash child exited before killing (code ${child.exitCode}): ${await new Response(child.stderr).text()}\n${output}`);
  }
  await Bun.sleep(runMs);
  child.kill(9);
  await child.exited;
  await reading;
  expect(child.signalCode).toBe("SIGKILL"); // it died by our hand, not of an error
  return output;
}

/** Folds the complete lines the child printed into the newest durable state it claimed. */
function foldReports(output: string, into: Reported): number {
  const lines = output.split("\n");
  lines.pop(); // a line cut by the kill is not a claim
  let count = 0;
  for (const line of lines) {
    const [kind, a, b, c] = line.split(" ");
    if (kind === "P") {
      into.term = Number(b);
      into.commit = Number(c);
      void a;
    } else if (kind === "S") {
      into.snapshot = Number(a);
    }
    if (kind === "P" || kind === "S") count += 1;
  }
  return count;
}

function checkInvariants(dir: string, reported: Reported, context: string): { applied: number; last: number } {
  const storage = openStorage(dir);
  try {
    const log = storage.log;
    const hard = log.hardState();
    const first = log.firstIndex();
    const last = log.lastIndex();
    const start = storage.kv.appliedIndex();
    const where = `${context}: hard=${JSON.stringify(hard)} first=${first} last=${last} start=${start} reported=${JSON.stringify(reported)}`;

    // The log is contiguous from its first index, terms never decrease, every entry holds its index's command.
    const entries = last >= first ? log.entries(first, last + 1, Number.MAX_SAFE_INTEGER) : [];
    expect(entries.length, where).toBe(last - first + 1);
    let previousTerm = log.term(first - 1)!;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      expect(entry.index, where).toBe(first + i);
      expect(entry.term, where).toBeGreaterThanOrEqual(previousTerm);
      previousTerm = entry.term;
      const command = commandAt(entry.index);
      if (command.kind === "noop") expect(entry.data.byteLength, where).toBe(0);
      else expect(text(entry.data), where).toContain(command.key);
    }

    // The node starts from its newest snapshot, which the log continues.
    expect(hard.commit, where).toBeLessThanOrEqual(last);
    expect(hard.term, where).toBeGreaterThanOrEqual(log.term(last)!);
    expect(start, where).toBe(log.snapshotMeta().index);
    expect(start, where).toBeLessThanOrEqual(hard.commit);
    expect(start, where).toBeGreaterThanOrEqual(first - 1);

    // What the child reported durable survived.
    expect(hard.commit, where).toBeGreaterThanOrEqual(reported.commit);
    expect(hard.term, where).toBeGreaterThanOrEqual(reported.term);
    expect(log.snapshotMeta().index, where).toBeGreaterThanOrEqual(reported.snapshot);

    // Snapshot + the committed log after it = exactly entries 1..commit applied once each.
    const applied = replayCommitted(storage);
    expect(applied, where).toBe(hard.commit);
    const expected = expectedState(applied);
    const actual = dumpKv(storage).map((kv) => ({ ...kv, value: text(new Uint8Array(kv.value)) }));
    expect(actual, where).toEqual(expected.rows);
    expect(storage.kv.revision(), where).toBe(expected.revision);

    // No debris: only recorded images (at most 2) and the staging dir.
    const images = readdirSync(storage.paths.snapDir).filter((name) => name !== "staging");
    expect(images.every((name) => name.endsWith(".snap")), `${where} snap/=${images}`).toBe(true);
    expect(images.length, where).toBeLessThanOrEqual(2);
    return { applied, last };
  } finally {
    storage.close();
  }
}

describe("crash safety", () => {
  test(
    `kill -9 at ${KILLS} random moments never loses a reported write nor tears the state (seed ${SEED})`,
    async () => {
      const random = seededRandom(SEED);
      const dir = tempDir("dkv-crash");
      const reported: Reported = { commit: 0, term: 0, snapshot: 0 };
      let claims = 0;
      let final = { applied: 0, last: 0 };
      for (let kill = 1; kill <= KILLS; kill++) {
        const runMs = RUN_MS_MIN + Math.floor(random() * (RUN_MS_MAX - RUN_MS_MIN + 1));
        const childSeed = Math.floor(random() * 2 ** 31);
        const output = await runChildUntilKilled(dir, childSeed, runMs);
        claims += foldReports(output, reported);
        final = checkInvariants(dir, reported, `seed ${SEED}, kill ${kill} after ${runMs} ms (child seed ${childSeed})`);
      }
      // The run did real work: many durable steps, snapshots, and a long log.
      expect(claims).toBeGreaterThan(KILLS * 5);
      expect(reported.snapshot).toBeGreaterThan(0);
      expect(final.applied).toBeGreaterThan(1000);
      console.log(`crash test: ${KILLS} kills, ${claims} durable steps reported, applied ${final.applied}, last index ${final.last}, newest snapshot ${reported.snapshot}`);
    },
    55_000,
  );
});
