// Mutual TLS end to end, with certificates minted by `dkv certs`: members
// verify each other by the ADVERTISED DNS name, a peer without a CA-signed
// certificate gets nothing, and with --trusted-ca-file a client must present
// a certificate too.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeFrame } from "../../src/transport/index.ts";
import { MessageType } from "../../src/raft/index.ts";
import { BINARY, Cluster, waitFor, type Member } from "./cluster.ts";

const dir = mkdtempSync(join(tmpdir(), "dkv-mtls-"));
const ca = join(dir, "ca");
const otherCa = join(dir, "other");

function dkv(...args: string[]): string {
  const result = Bun.spawnSync([BINARY, ...args], { env: { ...process.env, NO_COLOR: "1" }, timeout: 20_000 });
  if (result.exitCode !== 0) throw new Error(`dkv ${args.join(" ")} failed: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

let cluster: Cluster;

function tlsFlags(m: Member): string[] {
  return [
    "--peer-cert-file", join(ca, `${m.name}.crt`),
    "--peer-key-file", join(ca, `${m.name}.key`),
    "--peer-trusted-ca-file", join(ca, "ca.crt"),
    "--cert-file", join(ca, "server.crt"),
    "--key-file", join(ca, "server.key"),
    "--trusted-ca-file", join(ca, "ca.crt"),
  ];
}

const clientTls = () => ({ ca: readFileSync(join(ca, "ca.crt"), "utf8"), cert: readFileSync(join(ca, "client.crt"), "utf8"), key: readFileSync(join(ca, "client.key"), "utf8") });

async function status(m: Member): Promise<{ isLeader?: boolean; raftTerm?: string }> {
  const response = await fetch(`${cluster.endpoint(m)}/dkv.v1.MaintenanceAPI/Status`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
    tls: clientTls(),
    signal: AbortSignal.timeout(3000),
  });
  if (!response.ok) throw new Error(`status ${response.status}`);
  return (await response.json()) as { isLeader?: boolean; raftTerm?: string };
}

beforeAll(async () => {
  dkv("certs", "init", "--dir", ca);
  dkv("certs", "init", "--dir", otherCa, "--cn", "someone else");
  // Peer certificates name only "localhost": verification must use the advertised name, not the IP dialed.
  for (const name of ["n0", "n1", "n2"]) dkv("certs", "issue", name, "--dns", "localhost", "--peer", "--dir", ca);
  dkv("certs", "issue", "server", "--dns", "localhost", "--ip", "127.0.0.1", "--server", "--dir", ca);
  dkv("certs", "issue", "client", "--client", "--dir", ca);
  dkv("certs", "issue", "rogue", "--dns", "localhost", "--peer", "--dir", otherCa);

  // The API worker serves the mutual-TLS client port here; the other e2e clusters serve it on raft's thread.
  cluster = new Cluster({ size: 3, peerHostname: "localhost", clientScheme: "https", flags: ["--api-worker", "true"] });
  const initial = cluster.initialCluster();
  for (const m of cluster.members) cluster.start(m, ["--initial-cluster", initial, ...tlsFlags(m)]);
  await waitFor("a leader over mutual TLS", 20_000, async () => {
    for (const m of cluster.members) if ((await status(m).catch(() => ({ isLeader: false }))).isLeader) return true;
    return undefined;
  }).catch((error) => {
    throw new Error(`${error.message}\n${cluster.allLogs()}`);
  });
}, 60_000);

afterAll(async () => {
  await cluster?.stopAll();
  cluster?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("mutual TLS", () => {
  test("members verify each other by the advertised DNS name and replicate", async () => {
    const [a, b] = [cluster.members[0]!, cluster.members[1]!];
    const endpoints = cluster.members.map((m) => `${m.host}:${m.clientPort}`).join(",");
    const certs = ["--cacert", join(ca, "ca.crt"), "--cert", join(ca, "client.crt"), "--key", join(ca, "client.key")];
    await waitFor("three voters", 20_000, async () => {
      const out = dkv("member", "list", "--endpoints", `${a.host}:${a.clientPort}`, "--output", "json", ...certs);
      const members = JSON.parse(out) as { members?: Array<{ isLearner?: boolean }> } | Array<{ isLearner?: boolean }>;
      const list = Array.isArray(members) ? members : (members.members ?? []);
      return list.length === 3 && list.every((m) => !m.isLearner);
    });
    dkv("set", "secret", "s3cr3t", "--endpoints", endpoints, ...certs);
    expect(dkv("get", "secret", "--endpoints", `${b.host}:${b.clientPort}`, ...certs).trim()).toBe("s3cr3t");
  }, 60_000);

  test("a client without a certificate is refused when --trusted-ca-file is set", async () => {
    const m = cluster.members[0]!;
    const attempt = fetch(`${cluster.endpoint(m)}/dkv.v1.MaintenanceAPI/Status`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
      tls: { ca: readFileSync(join(ca, "ca.crt"), "utf8") },
      signal: AbortSignal.timeout(3000),
    });
    await expect(attempt).rejects.toThrow();
    const cli = Bun.spawnSync([BINARY, "get", "k", "--endpoints", `${m.host}:${m.clientPort}`, "--cacert", join(ca, "ca.crt"), "--command-timeout", "2s"], { timeout: 10_000 });
    expect(cli.exitCode).not.toBe(0);
    expect(cli.stderr.toString().trim().split("\n")).toHaveLength(1);
  });

  test("a peer with a certificate from another CA, or none, gets nothing and cannot disturb the cluster", async () => {
    const leader = await waitFor("the leader", 10_000, async () => {
      for (const m of cluster.members) if ((await status(m).catch(() => ({ isLeader: false }))).isLeader) return m;
      return undefined;
    });
    const termBefore = Number((await status(leader)).raftTerm);
    // A forged vote request with a far higher term: accepted, it would depose the leader.
    const forged = encodeFrame({
      case: "raft",
      value: {
        type: MessageType.Vote, from: "n9", to: leader.name, term: termBefore + 100, logTerm: 1_000_000, index: 1_000_000,
        entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0), snapshotOffset: 0, snapshotData: new Uint8Array(0), snapshotDone: false,
      },
    });
    const hello = encodeFrame({ case: "hello", value: { $typeName: "dkv.raft.v1.Hello", clusterId: "", nodeId: "n9", protocolVersion: 1 } });
    const attempts: Array<{ cert?: string; key?: string }> = [
      { cert: readFileSync(join(otherCa, "rogue.crt"), "utf8"), key: readFileSync(join(otherCa, "rogue.key"), "utf8") },
      {},
    ];
    // The same probe with a member's own certificate and only a Hello is answered: the probe can see acceptance.
    expect(await probe(leader, { cert: readFileSync(join(ca, "n1.crt"), "utf8"), key: readFileSync(join(ca, "n1.key"), "utf8") }, [hello])).toBeGreaterThan(0);
    for (const identity of attempts) expect(await probe(leader, identity, [hello, forged])).toBe(0);
    const after = await status(leader);
    expect(after.isLeader).toBe(true);
    expect(Number(after.raftTerm)).toBe(termBefore);
  }, 30_000);
});

describe("certificate files of the client port, checked at start", () => {
  test("a key of another certificate is refused in one line; a certificate expiring soon starts with a warning", async () => {
    dkv("certs", "issue", "soon", "--dns", "localhost", "--ip", "127.0.0.9", "--server", "--days", "10", "--dir", ca);
    const single = (name: string, cert: string, key: string) => {
      const one = new Cluster({ size: 1, firstHost: 9, prefix: name, clientScheme: "https", flags: ["--cert-file", join(ca, cert), "--key-file", join(ca, key)] });
      extraClusters.push(one);
      return one;
    };

    const mismatched = single("bad", "server.crt", "soon.key");
    await mismatched.startAll();
    const bad = mismatched.members[0]!;
    expect(await bad.process!.exited).toBe(1);
    const errors = mismatched.logs(bad).split("\n").filter((line) => line.startsWith("dkv: "));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^dkv: key file \S*soon\.key does not belong to certificate file \S*server\.crt$/);
    expect(existsSync(bad.dataDir)).toBe(false); // refused before the data dir was made

    const soon = single("soon", "soon.crt", "soon.key");
    await soon.startAll();
    await waitFor("the expiry warning", 15_000, () => soon.logs(soon.members[0]!).includes("soon.crt expires on") || undefined);
    expect(soon.logs(soon.members[0]!)).toMatch(/in (9|10) days; issue a new one/);
    await waitFor("the member to serve", 15_000, () => soon.logs(soon.members[0]!).includes("serving clients") || undefined);
  }, 60_000);
});

const extraClusters: Cluster[] = [];
afterAll(async () => {
  for (const one of extraClusters) {
    await one.stopAll();
    one.cleanup();
  }
});

/** Dials a member's peer port with the given identity, writes the frames, and returns how many bytes came back. */
async function probe(target: Member, identity: { cert?: string; key?: string }, frames: Uint8Array[]): Promise<number> {
      let received = 0;
      const closed = Promise.withResolvers<void>();
      const socket = await Bun.connect({
        hostname: target.host,
        port: target.peerPort,
        tls: { ...identity, ca: readFileSync(join(ca, "ca.crt"), "utf8"), serverName: "localhost", rejectUnauthorized: true },
        socket: {
          open(s) {
            for (const frame of frames) s.write(frame);
          },
          data(_s, data) {
            received += data.length;
          },
          close() {
            closed.resolve();
          },
          error() {
            closed.resolve();
          },
          connectError() {
            closed.resolve();
          },
        },
      }).catch(() => undefined);
      await Promise.race([closed.promise, waitFor("an answer", 3000, () => received > 0 || undefined).catch(() => {})]);
      socket?.end();
      return received;
}
