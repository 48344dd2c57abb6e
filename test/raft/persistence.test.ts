// The Ready contract (persist before send) and restarts from persisted state only.
import { describe, expect, test } from "bun:test";
import { EntryType, MessageType, Role } from "../../src/raft/index";
import { bytes, Cluster, text, confState, drain, entry, msg, newNode, storageWithLog } from "./helpers";

const three = confState(["a", "b", "c"]);

describe("the Ready contract", () => {
  test("the entries a follower acknowledges are in the same Ready as the acknowledgement, marked mustSync", () => {
    const s = storageWithLog(three, [entry(1, 1)], 2);
    const b = newNode("b", s);
    drain(b, s);
    b.step(msg({ type: MessageType.Append, from: "a", to: "b", term: 2, index: 1, logTerm: 1, entries: [entry(2, 2), entry(3, 2)], commit: 1 }));
    const rd = b.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([2, 3]);
    expect(rd.mustSync).toBe(true);
    expect(rd.messages[0]).toMatchObject({ type: MessageType.AppendResponse, index: 3 });
    b.advance();
  });

  test("a Ready is handed out once: ready() again before advance() throws, and hasReady() is false meanwhile", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    const { node: a, storage } = c.get("a");
    a.propose(bytes("x"));
    const first = a.ready();
    a.propose(bytes("y"));
    expect(a.hasReady()).toBe(false);
    expect(() => a.ready()).toThrow(/before advance/);
    storage.append(first.entries);
    a.advance();
    expect(a.hasReady()).toBe(true);
    const second = a.ready();
    expect(second.entries.map((e) => text(e.data))).toEqual(["y"]);
    expect(first.entries.map((e) => text(e.data))).toEqual(["x"]);
    a.advance();
  });

  test("advance() without a Ready is an error", () => {
    const s = storageWithLog(three, [entry(1, 1)], 1);
    expect(() => newNode("a", s).advance()).toThrow(/without an outstanding Ready/);
  });

  test("committed entries are handed out once, in order, and only after they are committed", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("b", "c");
    c.node("a").propose(bytes("x"));
    c.settle();
    expect(c.appliedData("a")).toEqual([]);
    c.heal();
    c.tickAll(2);
    c.node("a").propose(bytes("y"));
    c.settle();
    expect(c.appliedData("a")).toEqual(["x", "y"]);
  });
});

describe("restarting from persisted state", () => {
  test("a restarted node keeps its term, vote, commit and log, and re-applies after its applied index", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    for (const v of ["x", "y", "z"]) c.node("a").propose(bytes(v));
    c.settle();
    c.tickAll(1);
    const before = c.node("b").status();
    const appliedX = c.get("b").applied.find((e) => e.type === EntryType.Normal && e.data.length > 0)!.index;
    const b = c.restart("b", { applied: appliedX });
    const after = b.node.status();
    expect([after.term, after.vote, after.commit, after.lastIndex]).toEqual([before.term, before.vote, before.commit, before.lastIndex]);
    c.settle();
    expect(c.appliedData("b")).toEqual(["y", "z"]);
  });

  test("a leader that crashes before persisting its Ready loses those entries, and nobody acknowledged them", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    const lastDurable = c.get("a").storage.lastIndex();
    c.node("a").propose(bytes("lost"));
    c.node("a").ready(); // crash: the Ready is neither persisted nor sent
    c.restart("a");
    expect(c.get("a").storage.lastIndex()).toBe(lastDurable);
    c.tickAll(4 * 10);
    const leader = c.leaders()[0]!;
    c.node(leader).propose(bytes("kept"));
    c.settle();
    c.tickAll(2);
    for (const id of ["a", "b", "c"]) expect(c.appliedData(id)).toEqual(["kept"]);
  });

  test("a follower that crashes between persisting and sending keeps what it persisted and catches up", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").propose(bytes("v1"));
    c.collect(c.get("a"));
    // b persists the Append but crashes before its answer goes out.
    const append = c.sent.find((m) => m.type === MessageType.Append && m.to === "b" && m.entries.length > 0)!;
    c.node("b").step(append);
    const b = c.get("b");
    const rd = b.node.ready();
    b.storage.append(rd.entries);
    if (rd.hardState) b.storage.setHardState(rd.hardState);
    c.restart("b");
    expect(c.get("b").storage.lastIndex()).toBe(append.entries[append.entries.length - 1]!.index);
    c.settle();
    c.tickAll(2);
    expect(c.appliedData("b")).toEqual(["v1"]);
    expect(c.node("a").status().role).toBe(Role.Leader);
  });
});
