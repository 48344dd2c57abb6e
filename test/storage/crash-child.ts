// The process the crash test kills with SIGKILL. It plays a raft node's Ready
// loop against real storage: append entries + hard state (sometimes in a new
// term, replacing an uncommitted suffix), commit, apply in batches, snapshot
// and compact now and then. A restart starts from the newest snapshot and
// replays the committed log after it (as the core would). After each durable step it prints one line:
//   P <last> <term> <commit>   entries + hard state persisted
//   S <index>                  snapshot recorded (and log compacted behind it)
// Usage: bun run test/storage/crash-child.ts <data-dir> <seed>

import { writeSync } from "node:fs";
import type { Entry } from "../../src/raft/types";
import { openStorage } from "../../src/storage";
import { dataAt, seededRandom } from "./crash-model";
import { replayCommitted } from "./helpers";

const [dir, seedText] = process.argv.slice(2);
if (dir === undefined || seedText === undefined) throw new Error("usage: crash-child.ts <data-dir> <seed>");
const random = seededRandom(Number(seedText));
const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

/** Synchronous write: a line is out of the process before the next step starts. */
const report = (line: string) => writeSync(1, `${line}\n`);

const storage = openStorage(dir);
replayCommitted(storage);
const hard = storage.log.hardState();
let term = Math.max(hard.term, 1);
let vote = hard.vote;
let commit = hard.commit;
let appliedSinceSnapshot = 0;
report(`R ${storage.log.lastIndex()} ${commit} ${storage.kv.appliedIndex()}`);

function appendStep(): void {
  const last = storage.log.lastIndex();
  let start = last + 1;
  if (random() < 0.05 || (last > commit && random() < 0.1)) {
    // A new leader: a new term, and maybe a different uncommitted suffix.
    term += 1;
    vote = `n${between(1, 3)}`;
    if (last > commit) start = between(commit + 1, last);
  }
  const count = between(1, 20);
  const entries: Entry[] = [];
  for (let index = start; index < start + count; index++) entries.push({ index, term, type: 0, data: dataAt(index) });
  const newLast = start + count - 1;
  commit = between(commit, newLast);
  storage.persistReady({ entries, hardState: { term, vote, commit }, snapshotChunks: [] });
  report(`P ${newLast} ${term} ${commit}`);
}

function applyStep(): void {
  const applied = storage.kv.appliedIndex();
  if (applied >= commit) return;
  const upTo = between(applied + 1, commit);
  const entries = storage.log.entries(applied + 1, upTo + 1, Number.MAX_SAFE_INTEGER);
  // In memory only: what is durable is the log and the snapshots.
  storage.applyCommitted(entries);
  appliedSinceSnapshot += entries.length;
}

async function snapshotStep(): Promise<void> {
  const meta = await storage.createSnapshot();
  storage.compact(Math.max(0, meta.index - between(0, 40)));
  appliedSinceSnapshot = 0;
  report(`S ${meta.index}`);
}

for (;;) {
  appendStep();
  applyStep();
  if (appliedSinceSnapshot > 300 && random() < 0.2) await snapshotStep();
}
