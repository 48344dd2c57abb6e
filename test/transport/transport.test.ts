// PeerTransport on loopback: delivery, batching, big frames and reconnects,
// over plain TCP and over mutual TLS; bounded queues and hostile input on the
// peer port.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { ForwardRequestSchema, ForwardResponseSchema } from "../../src/gen/dkv/raft/v1/raft_pb";
import { encodeFrame, writeFrameHeader } from "../../src/transport/index";
import { type CertFixture, CapturingLogger, Fleet, Inbox, mintCerts, raft, raftMessage, waitUntil } from "./helpers";
import { freePort } from "../ports.ts";

const fleet = new Fleet();
let certs: CertFixture;
beforeAll(async () => {
  certs = await mintCerts();
});
afterEach(() => fleet.cleanup());
afterAll(() => certs.remove());

type Mode = "plain TCP" | "mutual TLS";
const MODES: Mode[] = ["plain TCP", "mutual TLS"];

/** Options for node `name` in `mode` (TLS material from the test CA). */
function withMode(mode: Mode, name: "n1" | "n2", options: Parameters<Fleet["make"]>[2] = {}) {
  return mode === "plain TCP" ? options : { ...options, tls: certs.peer(name) };
}

/** Two transports that know each other: a=n1, b=n2. */
function pair(options: Parameters<Fleet["make"]>[2] = {}, mode: Mode = "plain TCP") {
  const inboxA = new Inbox();
  const inboxB = new Inbox();
  const a = fleet.make("n1", inboxA, withMode(mode, "n1", options));
  const b = fleet.make("n2", inboxB, withMode(mode, "n2", options));
  const portA = a.transport.listen({ host: "127.0.0.1", port: 0 }).port;
  const portB = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
  a.transport.setPeerAddress("n2", `127.0.0.1:${portB}`);
  b.transport.setPeerAddress("n1", `127.0.0.1:${portA}`);
  return { a, b, inboxA, inboxB, portA, portB };
}

/** A raw client on the peer port: what it got back and when the server closed it. */
async function rawClient(port: number) {
  let closedResolve!: () => void;
  const closed = new Promise<void>((resolve) => {
    closedResolve = resolve;
  });
  const received: number[] = [];
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_s, data) {
        received.push(...data);
      },
      close() {
        closedResolve();
      },
      error() {},
    },
  });
  fleet.defer(() => socket.terminate());
  let isClosed = false;
  void closed.then(() => {
    isClosed = true;
  });
  return { socket, closed, received, isClosed: () => isClosed };
}

function hello(clusterId: string, nodeId: string): Uint8Array {
  return encodeFrame({ case: "hello", value: { $typeName: "dkv.raft.v1.Hello", clusterId, nodeId, protocolVersion: 1 } });
}

describe.each(MODES)("delivery over %s", (mode) => {
  test("frames go both ways: send, reply on the same connection, and the reverse direction", async () => {
    const { a, b, inboxA, inboxB } = pair({}, mode);
    inboxB.onItem = ({ frame, reply }) => {
      if (frame.case === "forwardRequest") {
        reply({ case: "forwardResponse", value: create(ForwardResponseSchema, { requestId: frame.value.requestId, index: 9n }) });
      }
    };
    expect(a.transport.send("n2", raft(raftMessage("n1", "n2", 1, 100)))).toBe(true);
    expect(a.transport.send("n2", { case: "forwardRequest", value: create(ForwardRequestSchema, { requestId: 5n, kind: "propose" }) })).toBe(true);
    await inboxB.waitFor(2);
    await inboxA.waitFor(1);
    expect(inboxB.items[0]!.from).toBe("n1");
    expect(inboxB.raft()[0]).toEqual(raftMessage("n1", "n2", 1, 100));
    expect(inboxA.items[0]).toMatchObject({ from: "n2", frame: { case: "forwardResponse", value: { requestId: 5n, index: 9n } } });

    expect(b.transport.send("n1", raft(raftMessage("n2", "n1", 2)))).toBe(true);
    await inboxA.waitFor(2);
    expect(inboxA.raft()).toEqual([raftMessage("n2", "n1", 2)]);
    expect(a.transport.isConnected("n2")).toBe(true);
    const stats = a.transport.stats();
    expect(stats).toMatchObject({ framesSent: 2, framesReceived: 2, connectionsOpened: 1, connectionsAccepted: 1, outboundConnected: 1 });
    expect(stats.framesDropped).toBe(0);
  });

  test("ten thousand frames queued in one tick arrive complete and in order", async () => {
    const { a, inboxB } = pair({ maxQueuedFrames: 20_000 }, mode);
    const count = 10_000;
    for (let i = 0; i < count; i++) a.transport.send("n2", raft(raftMessage("n1", "n2", i, i % 50)));
    await inboxB.waitFor(count);
    expect(inboxB.raft().map((m) => m.index)).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(inboxB.raft()[4321]).toEqual(raftMessage("n1", "n2", 4321, 4321 % 50));
  }, 30_000);

  test("a 10 MB frame arrives intact, between small frames, despite partial writes", async () => {
    const { a, inboxB } = pair({}, mode);
    const big = 10 * 1024 * 1024;
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    a.transport.send("n2", raft(raftMessage("n1", "n2", 2, big)));
    a.transport.send("n2", raft(raftMessage("n1", "n2", 3)));
    a.transport.send("n2", raft(raftMessage("n1", "n2", 4, big)));
    a.transport.send("n2", raft(raftMessage("n1", "n2", 5)));
    await inboxB.waitFor(5, 30_000);
    const got = inboxB.raft();
    expect(got.map((m) => m.index)).toEqual([1, 2, 3, 4, 5]);
    const expected = raftMessage("n1", "n2", 4, big).entries[0]!.data;
    expect(got[3]!.entries[0]!.data.length).toBe(big);
    expect(Buffer.compare(Buffer.from(got[3]!.entries[0]!.data), Buffer.from(expected))).toBe(0);
    // The socket took the 10 MB batches in parts: the drain path was exercised.
    expect(a.transport.stats().partialWrites).toBeGreaterThan(0);
  }, 60_000);

  test("an exception in the frame handler is logged and the connection keeps delivering", async () => {
    const { a, inboxB, b } = pair({}, mode);
    inboxB.onItem = ({ frame }) => {
      if (frame.case === "raft" && frame.value.index === 1) throw new Error("boom");
    };
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    a.transport.send("n2", raft(raftMessage("n1", "n2", 2)));
    await inboxB.waitFor(2);
    expect(b.logger.has("frame handler failed on a raft frame from n1: boom")).toBe(true);
  });
});

describe.each(MODES)("reconnecting over %s", (mode) => {
  test("reconnects after the listener restarts on the same port and delivers what was queued", async () => {
    const inboxA = new Inbox();
    const unreachable: string[] = [];
    const a = fleet.make("n1", inboxA, withMode(mode, "n1", { onUnreachable: (id) => unreachable.push(id), backoffMaxMs: 200 }));
    const firstInbox = new Inbox();
    const first = fleet.make("n2", firstInbox, withMode(mode, "n2"));
    const port = first.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    a.transport.setPeerAddress("n2", `127.0.0.1:${port}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await firstInbox.waitFor(1);

    await first.transport.close();
    await waitUntil(() => !a.transport.isConnected("n2"), "n1 to notice the lost connection");
    for (let i = 2; i <= 4; i++) a.transport.send("n2", raft(raftMessage("n1", "n2", i)));
    await waitUntil(() => a.transport.stats().connectFailures >= 1, "a failed redial while n2 is down");
    expect(unreachable).toContain("n2");

    const secondInbox = new Inbox();
    const second = fleet.make("n2", secondInbox, withMode(mode, "n2"));
    second.transport.listen({ host: "127.0.0.1", port });
    await secondInbox.waitFor(3);
    expect(secondInbox.raft().map((m) => m.index)).toEqual([2, 3, 4]);
    expect(a.transport.stats().reconnects).toBeGreaterThanOrEqual(1);
    expect(a.logger.has("lost connection to peer n2")).toBe(true);
  });
});

describe("connections", () => {
  test("a frame over the size limit is refused by the sender, which keeps working", async () => {
    const logger = new CapturingLogger();
    const inboxB = new Inbox();
    const a = fleet.make("n1", new Inbox(), { maxFrameBytes: 1000 }, logger);
    const b = fleet.make("n2", inboxB, { maxFrameBytes: 1000 });
    a.transport.setPeerAddress("n2", `127.0.0.1:${b.transport.listen({ host: "127.0.0.1", port: 0 }).port}`);
    expect(a.transport.send("n2", raft(raftMessage("n1", "n2", 1, 2000)))).toBe(false);
    expect(logger.has("exceeds the limit of 1000 bytes")).toBe(true);
    expect(a.transport.send("n2", raft(raftMessage("n1", "n2", 2, 10)))).toBe(true);
    await inboxB.waitFor(1);
    expect(inboxB.raft()[0]!.index).toBe(2);
  });

  test("sending to a peer without an address fails at once and counts a drop", () => {
    const { transport } = fleet.make("n1", new Inbox());
    expect(transport.send("n9", raft(raftMessage("n1", "n9", 1)))).toBe(false);
    expect(transport.stats().framesDropped).toBe(1);
  });

  test("the send queue of a peer that is down stays bounded; the excess is dropped and counted", async () => {
    const unreachable: string[] = [];
    const a = fleet.make("n1", new Inbox(), { maxQueuedFrames: 16, onUnreachable: (id) => unreachable.push(id) });
    a.transport.setPeerAddress("n2", `127.0.0.1:${freePort()}`);
    for (let i = 0; i < 100; i++) expect(a.transport.send("n2", raft(raftMessage("n1", "n2", i)))).toBe(true);
    expect(a.transport.stats().framesDropped).toBe(84);
    await waitUntil(() => unreachable.length > 0, "onUnreachable for the dead peer");
    expect(unreachable[0]).toBe("n2");
    expect(a.logger.has("cannot reach peer n2")).toBe(true);
    await a.logger.wait("dropped 84 frame(s) for peer n2: send queue full");
  });

  test("removePeer closes the connection and drops what was queued", async () => {
    const a = fleet.make("n1", new Inbox());
    a.transport.setPeerAddress("n2", `127.0.0.1:${freePort()}`);
    for (let i = 0; i < 5; i++) a.transport.send("n2", raft(raftMessage("n1", "n2", i)));
    a.transport.removePeer("n2");
    expect(a.transport.stats().framesDropped).toBe(5);
    expect(a.transport.send("n2", raft(raftMessage("n1", "n2", 9)))).toBe(false);
    expect(a.transport.peerAddresses().size).toBe(0);
  });

  test("setPeerAddress to a new address moves the connection there", async () => {
    const a = fleet.make("n1", new Inbox());
    const oldInbox = new Inbox();
    const newInbox = new Inbox();
    const old = fleet.make("n2", oldInbox);
    const moved = fleet.make("n2", newInbox);
    const oldPort = old.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    const newPort = moved.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    a.transport.setPeerAddress("n2", `127.0.0.1:${oldPort}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await oldInbox.waitFor(1);
    a.transport.setPeerAddress("n2", `127.0.0.1:${newPort}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 2)));
    await newInbox.waitFor(1);
    expect(newInbox.raft()[0]!.index).toBe(2);
    expect(oldInbox.items.length).toBe(1);
  });

  test("a dial that reaches a different node than expected is refused by the dialer", async () => {
    const a = fleet.make("n1", new Inbox());
    const otherInbox = new Inbox();
    const other = fleet.make("n3", otherInbox);
    a.transport.setPeerAddress("n2", `127.0.0.1:${other.transport.listen({ host: "127.0.0.1", port: 0 }).port}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await a.logger.wait('the node there says it is "n3", expected "n2"');
    expect(otherInbox.items.length).toBe(0);
  });
});

describe("hostile input on the peer port", () => {
  async function expectStillServing(port: number, inbox: Inbox) {
    const probe = fleet.make("n7", new Inbox());
    probe.transport.setPeerAddress("n2", `127.0.0.1:${port}`);
    const before = inbox.items.length;
    probe.transport.send("n2", raft(raftMessage("n7", "n2", 42)));
    await inbox.waitFor(before + 1);
    expect(inbox.raft().at(-1)!.index).toBe(42);
  }

  test("random bytes: the connection is closed with a log line, the listener keeps serving", async () => {
    const inbox = new Inbox();
    const b = fleet.make("n2", inbox);
    const port = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    for (const junk of [
      crypto.getRandomValues(new Uint8Array(4096)), // almost surely an oversized length
      Uint8Array.from([0, 0, 0, 64, ...crypto.getRandomValues(new Uint8Array(64))]), // plausible length, junk body
    ]) {
      const client = await rawClient(port);
      client.socket.write(junk);
      await client.closed;
    }
    await b.logger.wait("closed peer connection from 127.0.0.1");
    expect(inbox.items.length).toBe(0);
    expect(b.transport.stats().connectionsRefused).toBe(2);
    await expectStillServing(port, inbox);
  });

  test("an HTTP request on the peer port is answered 400, naming the client port, then closed", async () => {
    const inbox = new Inbox();
    const b = fleet.make("n2", inbox);
    const port = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    const client = await rawClient(port);
    client.socket.write("POST /dkv.v1.DkvAPI/Get HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}");
    await client.closed;
    const answer = Buffer.from(client.received).toString("utf8");
    expect(answer).toStartWith("HTTP/1.1 400 Bad Request\r\n");
    expect(answer).toEndWith("\r\n\r\nthis is a dkv member's peer port (raft traffic between members); clients connect to its client port (--listen-client-address, 2379 by default)\n");
    await b.logger.wait("an HTTP request on the peer port (a client pointed at the wrong port?)");
    expect(inbox.items.length).toBe(0);
    expect(b.transport.stats().connectionsRefused).toBe(1);
    await expectStillServing(port, inbox);
  });

  test("an oversized length prefix, before or after Hello, closes the connection without buffering it", async () => {
    const inbox = new Inbox();
    const b = fleet.make("n2", inbox, { maxFrameBytes: 1 << 20 });
    const port = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;

    const beforeHello = await rawClient(port);
    beforeHello.socket.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff));
    await beforeHello.closed;
    await b.logger.wait("frame of 4294967295 bytes exceeds the limit of 65536 bytes");

    const afterHello = await rawClient(port);
    const header = new Uint8Array(4);
    writeFrameHeader(header, (1 << 20) + 1);
    afterHello.socket.write(Uint8Array.from([...hello("test-cluster", "n5"), ...header]));
    await afterHello.closed;
    await b.logger.wait("frame of 1048577 bytes exceeds the limit of 1048576 bytes");
    expect(b.transport.stats().protocolErrors).toBe(2);
    expect(inbox.items.length).toBe(0);
    await expectStillServing(port, inbox);
  });

  test("a Hello for another cluster is refused and nothing it sends is delivered", async () => {
    const inbox = new Inbox();
    const b = fleet.make("n2", inbox);
    const port = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    const client = await rawClient(port);
    client.socket.write(Uint8Array.from([...hello("other-cluster", "n5"), ...encodeFrame(raft(raftMessage("n5", "n2", 1)))]));
    await client.closed;
    await b.logger.wait('Hello for cluster "other-cluster", this node is in cluster "test-cluster"');
    expect(inbox.items.length).toBe(0);
    await expectStillServing(port, inbox);
  });

  test("a joiner without a cluster id learns it from the first peer it dials, keeps it, and drops and refuses other clusters", async () => {
    const b = fleet.make("n2", new Inbox());
    const portB = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    const learned: string[] = [];
    const joinerInbox = new Inbox();
    const joiner = fleet.make("n4", joinerInbox, { clusterId: "", onClusterIdLearned: (id, from) => learned.push(`${id} from ${from}`) });
    const portJoiner = joiner.transport.listen({ host: "127.0.0.1", port: 0 }).port;

    // Before it has dialed anyone, a Hello of any cluster gets in (it is how the leader first reaches a joiner) ...
    const early = await rawClient(portJoiner);
    early.socket.write(hello("other-cluster", "n7"));
    await waitUntil(() => early.received.length > 0, "the joiner's Hello");
    expect(learned).toEqual([]);

    // ... but what it learns comes only from a member it dialed.
    joiner.transport.setPeerAddress("n2", `127.0.0.1:${portB}`);
    joiner.transport.send("n2", raft(raftMessage("n4", "n2", 1)));
    await waitUntil(() => learned.length > 0, "the cluster id learned");
    expect(learned).toEqual(["test-cluster from n2"]);
    expect(joiner.logger.has("learned cluster id test-cluster from peer n2")).toBe(true);
    // The other cluster's connection let in before is closed now.
    await early.closed;
    await joiner.logger.wait('its Hello was for cluster "other-cluster"');

    const late = await rawClient(portJoiner);
    late.socket.write(Uint8Array.from([...hello("other-cluster", "n7"), ...encodeFrame(raft(raftMessage("n7", "n4", 2)))]));
    await late.closed;
    await joiner.logger.wait('Hello for cluster "other-cluster", this node is in cluster "test-cluster"');
    expect(joinerInbox.raft().map((m) => m.index)).not.toContain(2);
    const member = await rawClient(portJoiner);
    member.socket.write(hello("test-cluster", "n3"));
    const answer = [...hello("test-cluster", "n4")];
    await waitUntil(() => member.received.length >= answer.length, "the joiner's Hello, now with the cluster id");
    expect(member.received).toEqual(answer);
  });

  test("a raft frame before Hello is refused", async () => {
    const inbox = new Inbox();
    const b = fleet.make("n2", inbox);
    const port = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    const client = await rawClient(port);
    client.socket.write(encodeFrame(raft(raftMessage("n5", "n2", 1))));
    await client.closed;
    await b.logger.wait("first frame is raft, expected Hello");
    expect(inbox.items.length).toBe(0);
  });

  test("a connection that never says Hello is closed after the hello timeout", async () => {
    const inbox = new Inbox();
    const b = fleet.make("n2", inbox, { helloTimeoutMs: 100 });
    const port = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    const client = await rawClient(port);
    await client.closed;
    await b.logger.wait("no Hello within 100 ms");
    await expectStillServing(port, inbox);
  });

  test("a dial to something that accepts but never says Hello times out and is reported", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    fleet.defer(() => silent.stop(true));
    const unreachable: string[] = [];
    const a = fleet.make("n1", new Inbox(), { connectTimeoutMs: 100, onUnreachable: (id) => unreachable.push(id) });
    a.transport.setPeerAddress("n2", `127.0.0.1:${silent.port}`);
    a.transport.send("n2", raft(raftMessage("n1", "n2", 1)));
    await a.logger.wait("no Hello from the peer within 100 ms");
    expect(unreachable).toEqual(["n2"]);
    expect(a.transport.stats().connectFailures).toBe(1);
  });

  test("a valid Hello is answered with the listener's own Hello", async () => {
    const b = fleet.make("n2", new Inbox());
    const port = b.transport.listen({ host: "127.0.0.1", port: 0 }).port;
    const client = await rawClient(port);
    client.socket.write(hello("test-cluster", "n5"));
    const expected = [...hello("test-cluster", "n2")];
    await waitUntil(() => client.received.length >= expected.length, "the listener's Hello");
    expect(client.received).toEqual(expected);
    expect(client.isClosed()).toBe(false);
  });
});
