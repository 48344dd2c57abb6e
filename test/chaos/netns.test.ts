// The chaos network on its own, with UDP peers instead of dkv (UDP shows a
// one-way cut exactly; TCP would break both ways): members hear each other,
// a cut drops one direction only, a partition both, heal restores all, the
// test process reaches every member throughout, and nothing is left behind.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { waitFor } from "../e2e/cluster.ts";
import { ensurePrerequisites, mustRun, NamespaceNetwork, removeLeftovers, run } from "./netns.ts";

const UDP_PORT = 7000;
const HELPER = join(import.meta.dir, "fixtures/udp-peer.ts");

/** Who heard whom: "from->to" for every datagram received since the last reset. */
class Listener {
  private heard = new Set<string>();
  private readonly helpers: Subprocess<"ignore", "pipe", "pipe">[] = [];
  private hostSender?: ReturnType<typeof setInterval>;

  constructor(private readonly network: NamespaceNetwork) {}

  async start(): Promise<void> {
    const n = this.network.size;
    for (let i = 0; i < n; i++) {
      const targets = Array.from({ length: n }, (_, j) => j).filter((j) => j !== i).map((j) => `${this.network.address(j)}:${UDP_PORT}`);
      const proc = Bun.spawn([...this.network.execPrefix(i), process.execPath, "run", HELPER, this.network.address(i), String(UDP_PORT), `n${i}`, ...targets], {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      this.helpers.push(proc);
      void this.read(proc.stdout, `n${i}`);
    }
    // The test process sends too: client traffic must pass every cut.
    // A member not listening yet answers with ICMP port-unreachable, which
    // Bun reports as ECONNREFUSED on a later send or receive: expected, not a failure.
    const socket = await Bun.udpSocket({ socket: { error() {} } });
    this.hostSender = setInterval(() => {
      for (let j = 0; j < n; j++) {
        try {
          socket.send("host", UDP_PORT, this.network.address(j));
        } catch {
          // Same: the next datagram goes 50 ms later.
        }
      }
    }, 50);
  }

  private async read(stream: ReadableStream<Uint8Array>, to: string): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of stream) {
      buffer += decoder.decode(chunk, { stream: true });
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) if (line.startsWith("got ")) this.heard.add(`${line.slice(4)}->${to}`);
    }
  }

  /**
   * Waits until every pair in `present` was heard twice over (two fresh
   * windows, so every sender had many chances), and returns everything heard
   * in the second window: pairs that are cut cannot be in it.
   */
  async observe(present: string[]): Promise<Set<string>> {
    for (let round = 0; round < 2; round++) {
      this.heard = new Set();
      await waitFor(`datagrams ${present.join(", ")}`, 5000, () => present.every((p) => this.heard.has(p)), 20);
    }
    return new Set(this.heard);
  }

  async stop(): Promise<void> {
    clearInterval(this.hostSender);
    for (const proc of this.helpers) proc.kill("SIGKILL");
    await Promise.all(this.helpers.map((p) => p.exited));
  }
}

/** Every "from->to" pair among members n0..n{size-1}, plus host->each. */
function allPairs(size: number): string[] {
  const pairs: string[] = [];
  for (let i = 0; i < size; i++) {
    pairs.push(`host->n${i}`);
    for (let j = 0; j < size; j++) if (i !== j) pairs.push(`n${i}->n${j}`);
  }
  return pairs;
}

let network: NamespaceNetwork | undefined;
let listener: Listener | undefined;

afterEach(async () => {
  await listener?.stop();
  listener = undefined;
  await network?.destroy();
  network = undefined;
});

describe("the chaos network", () => {
  test("has what it needs on this machine (root, ip, nft; installed if missing)", async () => {
    expect(await ensurePrerequisites()).toBeUndefined();
  }, 600_000);

  test("a cut drops one direction only; a partition both; heal restores all; clients pass throughout", async () => {
    network = await NamespaceNetwork.create(3);
    listener = new Listener(network);
    await listener.start();
    const everyone = allPairs(3);
    expect([...(await listener.observe(everyone))].sort()).toEqual([...everyone].sort());

    await network.cut(0, 1);
    const afterCut = await listener.observe(everyone.filter((p) => p !== "n0->n1"));
    expect(afterCut.has("n0->n1")).toBe(false);
    expect(afterCut.has("n1->n0")).toBe(true);

    await network.heal();
    await network.partition([2], [0, 1]);
    const cutOff = ["n2->n0", "n2->n1", "n0->n2", "n1->n2"];
    const afterPartition = await listener.observe(everyone.filter((p) => !cutOff.includes(p)));
    for (const pair of cutOff) expect(afterPartition.has(pair)).toBe(false);
    for (let i = 0; i < 3; i++) expect(afterPartition.has(`host->n${i}`)).toBe(true);

    await network.heal();
    expect(network.activeCuts()).toEqual([]);
    expect([...(await listener.observe(everyone))].sort()).toEqual([...everyone].sort());
  }, 60_000);

  test("destroy removes every namespace, link and rule it made", async () => {
    const made = await NamespaceNetwork.create(2);
    network = made;
    expect((await made.remaining()).length).toBe(2 + 2 + 1); // namespaces, host veths, bridge
    await made.cut(0, 1);
    await made.destroy();
    network = undefined;
    // Deleting a namespace is asynchronous in the kernel: its veth disappears shortly after.
    await waitFor("nothing left of the network", 5000, async () => (await made.remaining()).length === 0);
    const routes = await mustRun(["ip", "-4", "route", "show"]);
    expect(routes).not.toContain(made.hostAddress.split(".").slice(0, 3).join("."));
  }, 30_000);

  test("leftovers of a run whose process is gone are removed at start; a live run's are kept", async () => {
    const pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8"));
    const deadPid = pidMax + 1; // no process can have it
    const dead = { namespace: `dkvchaos-${deadPid}-1-n0`, link: `dkc${deadPid.toString(36)}.1b` };
    const live = { namespace: `dkvchaos-${process.pid}-999-n0` };
    try {
      await mustRun(["ip", "netns", "add", dead.namespace]);
      await mustRun(["ip", "link", "add", dead.link, "type", "bridge"]);
      await mustRun(["ip", "netns", "add", live.namespace]);
      // A member a crashed run left running inside its namespace.
      const orphan = Bun.spawn(["ip", "netns", "exec", dead.namespace, "sleep", "30"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
      await waitFor("the orphan inside the namespace", 5000, async () => (await run(["ip", "netns", "pids", dead.namespace])).stdout.trim() !== "");
      const removed = await removeLeftovers();
      expect(removed).toContain(`process ${orphan.pid} in ${dead.namespace}`);
      expect(await orphan.exited).not.toBe(0);
      expect(removed).toContain(`namespace ${dead.namespace}`);
      expect(removed).toContain(`link ${dead.link}`);
      expect((await run(["ip", "netns", "list"])).stdout).not.toContain(dead.namespace);
      expect((await run(["ip", "link", "show", dead.link])).exitCode).not.toBe(0);
      expect((await run(["ip", "netns", "list"])).stdout).toContain(live.namespace);
    } finally {
      await run(["ip", "netns", "delete", dead.namespace]);
      await run(["ip", "link", "delete", dead.link]);
      await run(["ip", "netns", "delete", live.namespace]);
    }
  }, 30_000);
});
