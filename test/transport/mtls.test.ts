// PeerTransport with mutual TLS: certificates from the peer CA on both sides,
// the dialer verifying the ADVERTISED name (a DNS name while connecting to
// 127.0.0.1), and every kind of wrong certificate refused before a frame is
// delivered.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { encodeFrame, type PeerTlsMaterial } from "../../src/transport/index";
import { type CertFixture, Fleet, Inbox, mintCerts, raft, raftMessage, waitUntil } from "./helpers";

let certs: CertFixture;
const fleet = new Fleet();
beforeAll(async () => {
  certs = await mintCerts();
});
afterEach(() => fleet.cleanup());
afterAll(() => certs.remove());

/** n2 listening with TLS; returns its port and inbox. */
function tlsListener(material: PeerTlsMaterial = certs.peer("n2"), nodeId = "n2") {
  const inbox = new Inbox();
  const node = fleet.make(nodeId, inbox, { tls: material });
  const port = node.transport.listen({ host: "127.0.0.1", port: 0 }).port;
  return { ...node, inbox, port };
}

describe("mutual TLS", () => {
  test("frames round trip both ways over mutual TLS", async () => {
    const b = tlsListener();
    const inboxA = new Inbox();
    const a = fleet.make("n1", inboxA, { tls: certs.peer("n1") });
    const portA = a.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    a.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    b.transport.setPeerAddress("n1", `127.0.0.1:${portA}`);
    b.inbox.onItem = ({ frame, reply }) => {
      if (frame.case === "raft") reply(raft({ ...raftMessage("n2", "n1", frame.value.index + 1000), type: 2 }));
    };
    for (let i = 1; i <= 100; i++) a.transport.send("n2", raft(raftMessage("n1", "n2", i, 64)));
    b.transport.send("n1", raft(raftMessage("n2", "n1", 7)));
    await b.inbox.waitFor(100);
    await inboxA.waitFor(101);
    expect(b.inbox.raft().map((m) => m.index)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(inboxA.raft().filter((m) => m.type === 2).map((m) => m.index)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1001));
    expect(inboxA.raft().some((m) => m.index === 7 && m.type === 1)).toBe(true);
    expect(b.transport.stats().connectionsRefused).toBe(0);
  });

  test("a DNS-name SAN is verified while connecting to 127.0.0.1", async () => {
    const b = tlsListener();
    const a = fleet.make("n1", new Inbox(), { tls: certs.peer("n1"), resolveHost: () => "127.0.0.1" });
    a.transport.setPeerAddress("n2", `dkv-2.dkv.default.svc:${b.port}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await b.inbox.waitFor(1);
    expect(a.logger.has("connected to peer n2 at dkv-2.dkv.default.svc")).toBe(true);
  });

  test("a server certificate whose SANs do not name the advertised host is refused by the dialer", async () => {
    // n2 presents a CA-signed certificate, but for other.example only.
    const b = tlsListener(certs.wrongName());
    const unreachable: string[] = [];
    const a = fleet.make("n1", new Inbox(), {
      tls: certs.peer("n1"),
      resolveHost: () => "127.0.0.1",
      onUnreachable: (id) => unreachable.push(id),
    });
    a.transport.setPeerAddress("n2", `dkv-2.dkv.default.svc:${b.port}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await a.logger.wait("cannot reach peer n2 at dkv-2.dkv.default.svc");
    expect(a.logger.lines.join("\n")).toMatch(/altnames|Hostname|does not match/i);
    expect(unreachable).toContain("n2");
    expect(b.inbox.items.length).toBe(0);
    expect(a.transport.isConnected("n2")).toBe(false);
  });

  test("the IP SAN is verified when the advertised address is an IP", async () => {
    const b = tlsListener(certs.wrongName()); // no IP SAN at all
    const a = fleet.make("n1", new Inbox(), { tls: certs.peer("n1") });
    a.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await a.logger.wait("cannot reach peer n2 at 127.0.0.1");
    expect(b.inbox.items.length).toBe(0);
  });

  test("a peer certificate for another member's host cannot claim a known member's id", async () => {
    const b = tlsListener();
    b.transport.setPeerAddress("n1", "dkv-1.dkv.default.svc:1"); // n2 knows n1 by its advertised DNS name
    // n3's certificate (dkv-3..., 127.0.0.1) is a valid peer certificate of this CA; its holder says "n1".
    const impostor = fleet.make("n1", new Inbox(), { tls: certs.peer("n3") });
    impostor.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    impostor.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await b.logger.wait('the certificate does not name "dkv-1.dkv.default.svc"');
    expect(b.inbox.items.length).toBe(0);
    expect(b.transport.stats().connectionsAccepted).toBe(0);

    // n1 with its own certificate is let in; so is a member n2 does not know yet (n3 joining).
    const real = fleet.make("n1", new Inbox(), { tls: certs.peer("n1") });
    real.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    real.transport.send("n2", raft(raftMessage("n1", "n2", 2)));
    const joiner = fleet.make("n3", new Inbox(), { tls: certs.peer("n3") });
    joiner.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    joiner.transport.send("n2", raft(raftMessage("n3", "n2", 3)));
    await b.inbox.waitFor(2);
    expect(b.inbox.raft().map((m) => m.index).sort()).toEqual([2, 3]);
  });

  test("a client certificate from another CA is refused and nothing is delivered", async () => {
    const b = tlsListener();
    const intruder = fleet.make("n9", new Inbox(), { tls: certs.foreign() });
    intruder.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    intruder.transport.send("n2", raft(raftMessage("n9", "n2", 1)));
    await intruder.logger.wait("cannot reach peer n2");
    await b.logger.wait("TLS client certificate refused");
    expect(b.inbox.items.length).toBe(0);
    expect(b.transport.stats().connectionsAccepted).toBe(0);
  });

  test("a client certificate from the peer CA (not a peer certificate) cannot speak raft: refused, nothing delivered", async () => {
    const b = tlsListener();
    const client = fleet.make("n9", new Inbox(), { tls: certs.clientOnly() });
    client.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    client.transport.send("n2", raft(raftMessage("n9", "n2", 1)));
    await b.logger.wait("not a peer certificate");
    expect(b.inbox.items.length).toBe(0);
    expect(b.transport.stats().connectionsAccepted).toBe(0);
  });

  test("a dialer refuses a listener that shows an API server certificate from the peer CA", async () => {
    const b = tlsListener(certs.serverOnly());
    const a = fleet.make("n1", new Inbox(), { tls: certs.peer("n1") });
    a.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await a.logger.wait("not a peer certificate");
    expect(b.inbox.items.length).toBe(0);
  });

  test("a client without a certificate is refused and nothing is delivered", async () => {
    const b = tlsListener();
    let closed = false;
    let errorText = "";
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: b.port,
      tls: { ca: certs.peer("n2").ca, serverName: "127.0.0.1" },
      socket: {
        handshake(s) {
          // Speak as a peer would: Hello, then a raft frame.
          s.write(
            Uint8Array.from([
              ...encodeFrame({ case: "hello", value: { $typeName: "dkv.raft.v1.Hello", clusterId: "test-cluster", nodeId: "n9", protocolVersion: 1 } }),
              ...encodeFrame(raft(raftMessage("n9", "n2", 1))),
            ]),
          );
        },
        data() {},
        close(_s, error) {
          closed = true;
          errorText = error?.message ?? errorText;
        },
        error(_s, error) {
          errorText = error.message;
        },
      },
    }).catch((error: Error) => {
      closed = true;
      errorText = error.message;
      return undefined;
    });
    if (socket !== undefined) fleet.defer(() => socket.terminate());
    await waitUntil(() => closed, "the listener to close the certificate-less connection");
    expect(b.inbox.items.length).toBe(0);
    expect(b.transport.stats().connectionsAccepted).toBe(0);
    await b.logger.wait("TLS client certificate refused");
    expect(errorText).not.toBe("");
  });

  test("garbage on the TLS port closes that connection; the listener keeps serving peers", async () => {
    const b = tlsListener();
    let closed = false;
    const raw = await Bun.connect({
      hostname: "127.0.0.1",
      port: b.port,
      socket: {
        data() {},
        close() {
          closed = true;
        },
      },
    });
    fleet.defer(() => raw.terminate());
    raw.write(crypto.getRandomValues(new Uint8Array(2048)));
    await waitUntil(() => closed, "the TLS listener to close the garbage connection");
    const a = fleet.make("n1", new Inbox(), { tls: certs.peer("n1") });
    a.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 5)));
    await b.inbox.waitFor(1);
    expect(b.inbox.raft()[0]!.index).toBe(5);
  });

  test("a plain-TCP peer cannot talk to a TLS listener", async () => {
    const b = tlsListener();
    const plain = fleet.make("n1", new Inbox());
    plain.transport.setPeerAddress("n2", `127.0.0.1:${b.port}`);
    plain.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await plain.logger.wait("cannot reach peer n2");
    expect(b.inbox.items.length).toBe(0);
  });
});
