// What the crash test's child writes at each raft index, and the KV state that
// applying indexes 1..n must produce. Content depends on the index only, so a
// suffix rewritten in a later term carries the same commands and the expected
// state is a pure function of the applied index.

import { deleteData, putData } from "./commands";

export const KEY_SLOTS = 97;

export type IndexCommand = { kind: "noop" } | { kind: "put"; key: string; value: string } | { kind: "delete"; key: string };

export function commandAt(index: number): IndexCommand {
  const key = `key-${String(index % KEY_SLOTS).padStart(2, "0")}`;
  if (index % 29 === 0) return { kind: "noop" };
  if (index % 13 === 0) return { kind: "delete", key };
  return { kind: "put", key, value: `v${index}:${"x".repeat(index % 50)}` };
}

export function dataAt(index: number): Uint8Array {
  const command = commandAt(index);
  if (command.kind === "noop") return new Uint8Array(0);
  if (command.kind === "delete") return deleteData(command.key);
  return putData(command.key, command.value, "crash-child", BigInt(index));
}

export interface ExpectedKv {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
}

/** The KV rows (key order) and store revision after applying indexes 1..applied. */
export function expectedState(applied: number): { rows: ExpectedKv[]; revision: number } {
  const rows = new Map<string, ExpectedKv>();
  let revision = 0;
  for (let index = 1; index <= applied; index++) {
    const command = commandAt(index);
    if (command.kind === "put") {
      const previous = rows.get(command.key);
      rows.set(command.key, {
        key: command.key,
        value: command.value,
        createRevision: previous?.createRevision ?? index,
        modRevision: index,
        version: (previous?.version ?? 0) + 1,
        lease: 0,
      });
      revision = index;
    } else if (command.kind === "delete" && rows.delete(command.key)) {
      revision = index;
    }
  }
  return { rows: [...rows.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)), revision };
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
