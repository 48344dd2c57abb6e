// Certificate rotation on running `dkv serve` processes, with certificates
// from `dkv certs`: new files are used on SIGHUP (and within the 10-s check
// without one) for new handshakes on both ports, the cluster keeps
// replicating through new peer connections, and files that cannot be used
// leave the member serving with the certificates it had.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { BINARY, Cluster, waitFor, type Member } from "./cluster.ts";

const dir = mkdtempSync(join(tmpdir(), "dkv-rotation-"));
const ca = join(dir, "ca");
let cluster: Cluster;

function dkv(...args: string[]): string {
  const result = Bun.spawnSync([BINARY, ...args], { env: { ...process.env, NO_COLOR: "1" }, timeout: 20_000 });
  if (result.exitCode !== 0) throw new Error(`dkv ${args.join(" ")} failed: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

const file = (name: string) => join(ca, name);
const issuePeer = (m: Member, force = false) => dkv("certs", "issue", m.name, "--dns", "localhost", "--peer", "--dir", ca, ...(force ? ["--force"] : []));
const issueServer = (m: Member, force = false) =>
  dkv("certs", "issue", `server-${m.name}`, "--dns", "localhost", "--ip", "127.0.0.1", "--server", "--dir", ca, ...(force ? ["--force"] : []));
const fingerprintOf = (certFile: string) => new X509Certificate(readFileSync(certFile, "utf8")).fingerprint256;
const clientCerts = () => ["--cacert", file("ca.crt"), "--cert", file("client.crt"), "--key", file("client.key")];

function tlsFlags(m: Member): string[] {
  return [
    "--peer-cert-file", file(`${m.name}.crt`),
    "--peer-key-file", file(`${m.name}.key`),
    "--peer-trusted-ca-file", file("ca.crt"),
    "--cert-file", file(`server-${m.name}.crt`),
    "--key-file", file(`server-${m.name}.key`),
    "--trusted-ca-file", file("ca.crt"),
  ];
}

/** The fingerprint of the certificate a fresh handshake with host:port is shown (we present the client certificate). */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: "127.0.0.1", port, servername: "localhost", ca: readFileSync(file("ca.crt")), cert: readFileSync(file("client.crt")), key: readFileSync(file("client.key")) },
      () => {
        const seen = socket.getPeerCertificate().fingerprint256;
        socket.destroy();
        resolve(seen);
      },
    );
    socket.once("error", reject);
  });
}

const logged = (m: Member, fragment: string) => m.output.join("").includes(fragment);
const running = (m: Member) => m.process !== undefined && m.process.exitCode === null;

beforeAll(async () => {
  dkv("certs", "init", "--dir", ca);
  dkv("certs", "issue", "client", "--client", "--dir", ca);
  cluster = new Cluster({ size: 3, peerHostname: "localhost", clientScheme: "https" });
  for (const m of cluster.members) {
    issuePeer(m);
    issueServer(m);
  }
  const initial = cluster.initialCluster();
  for (const m of cluster.members) cluster.start(m, ["--initial-cluster", initial, ...tlsFlags(m)]);
  const endpoints = cluster.members.map((m) => `${m.host}:${m.clientPort}`).join(",");
  await waitFor("a first write over mutual TLS", 30_000, () => {
    const attempt = Bun.spawnSync([BINARY, "set", "warm", "up", "--endpoints", endpoints, ...clientCerts(), "--command-timeout", "2s"], { timeout: 10_000 });
    return attempt.exitCode === 0 || undefined;
  }).catch((error) => {
    throw new Error(`${error.message}\n${cluster.allLogs()}`);
  });
  // Members join one by one: the tests restart one and need the other two to be voters with it.
  await waitFor("three voters", 30_000, () => {
    const out = Bun.spawnSync([BINARY, "member", "list", "--endpoints", endpoints, "--output", "json", ...clientCerts()], { timeout: 10_000 });
    if (out.exitCode !== 0) return undefined;
    const listed = JSON.parse(out.stdout.toString()) as { members?: Array<{ isLearner?: boolean }> } | Array<{ isLearner?: boolean }>;
    const members = Array.isArray(listed) ? listed : (listed.members ?? []);
    return (members.length === 3 && members.every((m) => !m.isLearner)) || undefined;
  }).catch((error) => {
    throw new Error(`${error.message}\n${cluster.allLogs()}`);
  });
}, 60_000);

afterAll(async () => {
  await cluster?.stopAll();
  cluster?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("certificate rotation", () => {
  test("after SIGHUP new handshakes on both ports use the new files, and peers accept them", async () => {
    const [n0, n1] = [cluster.members[0]!, cluster.members[1]!];
    const before = { peer: await servedFingerprint(n0.peerPort), client: await servedFingerprint(n0.clientPort) };
    issuePeer(n0, true);
    issueServer(n0, true);
    const renewed = { peer: fingerprintOf(file("n0.crt")), client: fingerprintOf(file("server-n0.crt")) };
    expect(renewed.peer).not.toBe(before.peer);
    expect(renewed.client).not.toBe(before.client);

    n0.process!.kill("SIGHUP");
    await waitFor("n0 to load both new certificates", 10_000, () =>
      (logged(n0, "now using the new peer certificate files") && logged(n0, "now using the new client certificate files")) || undefined,
    ).catch((error) => {
      throw new Error(`${error.message}\n${cluster.logs(n0)}`);
    });
    expect(running(n0)).toBe(true);
    expect(await servedFingerprint(n0.peerPort)).toBe(renewed.peer);
    expect(await servedFingerprint(n0.clientPort)).toBe(renewed.client);

    // n1 restarts: its new connections to n0 verify n0's new certificate, and n0 dials it presenting the new one.
    await cluster.kill(n1);
    dkv("set", "rotated", "yes", "--endpoints", `${n0.host}:${n0.clientPort}`, ...clientCerts());
    cluster.start(n1, ["--initial-cluster", cluster.initialCluster(), ...tlsFlags(n1)]);
    await waitFor("n1 to catch up over new connections", 20_000, () => {
      const read = Bun.spawnSync(
        [BINARY, "get", "rotated", "--consistency", "s", "--endpoints", `${n1.host}:${n1.clientPort}`, ...clientCerts(), "--command-timeout", "2s"],
        { timeout: 10_000 },
      );
      return (read.exitCode === 0 && read.stdout.toString().trim() === "yes") || undefined;
    }).catch((error) => {
      throw new Error(`${error.message}\n${cluster.allLogs()}`);
    });
    await waitFor("n1 to connect to n0", 10_000, () => logged(n1, "connected to peer n0") || undefined);
  }, 60_000);

  test("files that cannot be used are refused with a warning; the member keeps its certificates and serves", async () => {
    const n0 = cluster.members[0]!;
    const serving = await servedFingerprint(n0.peerPort);
    // A certificate next to a key that is not its own (as while a renewal is half written).
    writeFileSync(file("n0.key"), readFileSync(file("n2.key")));
    n0.process!.kill("SIGHUP");
    await waitFor("a warning about the peer files", 10_000, () => logged(n0, "the peer certificate files changed but cannot be used") || undefined).catch((error) => {
      throw new Error(`${error.message}\n${cluster.logs(n0)}`);
    });
    expect(logged(n0, "does not belong to certificate file")).toBe(true);
    expect(running(n0)).toBe(true);
    expect(await servedFingerprint(n0.peerPort)).toBe(serving);
    dkv("set", "after-bad-files", "ok", "--endpoints", `${n0.host}:${n0.clientPort}`, ...clientCerts());
  }, 30_000);

  test("without a signal, changed files are used within the 10-s check", async () => {
    const n2 = cluster.members[2]!;
    const before = await servedFingerprint(n2.clientPort);
    issueServer(n2, true);
    const renewed = fingerprintOf(file("server-n2.crt"));
    expect(renewed).not.toBe(before);
    await waitFor("n2 to serve the renewed client certificate", 20_000, async () => ((await servedFingerprint(n2.clientPort)) === renewed) || undefined, 250);
    expect(running(n2)).toBe(true);
  }, 30_000);
});

test("SIGHUP does not stop a member that runs without TLS", async () => {
  const plain = new Cluster({ size: 1, firstHost: 77 });
  try {
    await plain.startAll();
    const m = plain.members[0]!;
    await waitFor("the plain member to log that it serves", 20_000, () => logged(m, "serving clients") || undefined);
    m.process!.kill("SIGHUP");
    await waitFor("its answer to SIGHUP", 10_000, () => logged(m, "nothing to reload") || undefined);
    dkv("set", "still", "here", "--endpoints", `${m.host}:${m.clientPort}`);
    expect(running(m)).toBe(true);
  } finally {
    await plain.stopAll();
    plain.cleanup();
  }
}, 40_000);
