// Certificate rotation on a running PeerTransport: replaceTls() makes new
// handshakes, accepted and dialled, use the new certificate, while the
// connections already open keep delivering frames.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import tls from "node:tls";
import { issueCert, loadTlsFiles } from "../../src/certs/index";
import type { PeerTlsMaterial } from "../../src/transport/index";
import { type CertFixture, Fleet, Inbox, mintCerts, raft, raftMessage, waitUntil } from "./helpers";

let certs: CertFixture;
let renewedN2: PeerTlsMaterial;
const fleet = new Fleet();
beforeAll(async () => {
  certs = await mintCerts();
  const caDir = join(certs.dir, "main");
  await issueCert({ dir: caDir, name: "n2-renewed", dns: ["dkv-2.dkv.default.svc"], ip: ["127.0.0.1"], kind: "peer" });
  const m = loadTlsFiles({ cert: join(caDir, "n2-renewed.crt"), key: join(caDir, "n2-renewed.key"), ca: join(caDir, "ca.crt") });
  renewedN2 = { cert: m.cert, key: m.key, ca: m.ca! };
});
afterEach(() => fleet.cleanup());
afterAll(() => certs.remove());

const fingerprint = (material: PeerTlsMaterial) => new X509Certificate(material.cert).fingerprint256;

/** The fingerprint of the certificate a fresh TLS handshake with 127.0.0.1:port is shown. */
function servedFingerprint(port: number): Promise<string> {
  const client = certs.peer("n1");
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, cert: client.cert, key: client.key, ca: client.ca }, () => {
      const seen = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(seen);
    });
    socket.once("error", reject);
  });
}

describe("certificate rotation", () => {
  test("new handshakes get the new certificate; a connection already open keeps delivering", async () => {
    const inboxB = new Inbox();
    const b = fleet.make("n2", inboxB, { tls: certs.peer("n2") });
    const port = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    const a = fleet.make("n1", new Inbox(), { tls: certs.peer("n1") });
    a.transport.setPeerAddress("n2", `127.0.0.1:${port}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await inboxB.waitFor(1);
    expect(await servedFingerprint(port)).toBe(fingerprint(certs.peer("n2")));

    b.transport.replaceTls(renewedN2);

    expect(await servedFingerprint(port)).toBe(fingerprint(renewedN2));
    // n1's connection was made before the rotation and still carries frames.
    a.transport.send("n2", raft(raftMessage("n1", "n2", 2)));
    await inboxB.waitFor(2);
    // A member that dials after the rotation verifies the new certificate and gets through.
    const c = fleet.make("n3", new Inbox(), { tls: certs.peer("n3") });
    c.transport.setPeerAddress("n2", `127.0.0.1:${port}`);
    c.transport.send("n2", raft(raftMessage("n3", "n2", 3)));
    await inboxB.waitFor(3);
    expect(inboxB.raft().map((m) => m.index)).toEqual([1, 2, 3]);
  });

  test("the connections a member dials after the rotation present the new certificate", async () => {
    const listenerCert = certs.peer("n3");
    const presented: string[] = [];
    // A bare TLS server standing in for n3: it records the client certificate of every handshake.
    const server = tls.createServer({ cert: listenerCert.cert, key: listenerCert.key, ca: listenerCert.ca, requestCert: true, rejectUnauthorized: true }, (socket) => {
      presented.push(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    fleet.defer(() => server.close());
    const port = (server.address() as { port: number }).port;

    const b = fleet.make("n2", new Inbox(), { tls: certs.peer("n2"), backoffInitialMs: 10, backoffMaxMs: 20 });
    b.transport.replaceTls(renewedN2); // not listening yet: only the dialer's material changes
    b.transport.setPeerAddress("n3", `127.0.0.1:${port}`);
    b.transport.send("n3", raft(raftMessage("n2", "n3", 1)));
    await waitUntil(() => presented.length > 0, "a handshake at the stand-in for n3");
    expect(presented[0]).toBe(fingerprint(renewedN2));
  });

  test("a transport running plain TCP refuses certificates at run time", () => {
    const plain = fleet.make("n1", new Inbox());
    plain.transport.listen({ host: "127.0.0.1", port: 0 });
    expect(() => plain.transport.replaceTls(renewedN2)).toThrow(/without TLS/);
  });
});

test("a key that does not match its certificate is refused and the listener keeps the old certificate", async () => {
  const inbox = new Inbox();
  const b = fleet.make("n2", inbox, { tls: certs.peer("n2") });
  const port = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
  expect(() => b.transport.replaceTls({ ...renewedN2, key: certs.peer("n3").key })).toThrow(/keeps its certificate/);
  expect(await servedFingerprint(port)).toBe(fingerprint(certs.peer("n2")));
  const a = fleet.make("n1", new Inbox(), { tls: certs.peer("n1") });
  a.transport.setPeerAddress("n2", `127.0.0.1:${port}`);
  a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
  await inbox.waitFor(1);
});
