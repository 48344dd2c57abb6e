// Real-socket test fixtures for the peer transport: transports that are
// always closed, an inbox of received frames, a log that can be awaited,
// bounded waits (deadlines, never fixed sleeps) and a minted CA.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initCa, issueCert, loadTlsFiles } from "../../src/certs/index";
import type { Message, NodeId } from "../../src/raft/types";
import type { Frame, PeerTlsMaterial, PeerTransportOptions, Reply, TransportLogger } from "../../src/transport/index";
import { PeerTransport } from "../../src/transport/index";

export const WAIT_DEADLINE_MS = 10_000;

/** Polls `condition` until true or the deadline passes (then fails with `what`). */
export async function waitUntil(condition: () => boolean, what: string, deadlineMs = WAIT_DEADLINE_MS): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > deadlineMs) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

export class CapturingLogger implements TransportLogger {
  lines: string[] = [];
  info(message: string) {
    this.lines.push(`info: ${message}`);
  }
  warn(message: string) {
    this.lines.push(`warn: ${message}`);
  }
  has(fragment: string): boolean {
    return this.lines.some((line) => line.includes(fragment));
  }
  wait(fragment: string): Promise<void> {
    return waitUntil(() => this.has(fragment), `a log line containing ${JSON.stringify(fragment)}; got ${JSON.stringify(this.lines)}`);
  }
}

export interface Received {
  from: NodeId;
  frame: Frame;
  reply: Reply;
}

/** Everything a transport delivered, in order. */
export class Inbox {
  items: Received[] = [];
  /** Optional reaction, e.g. answering. */
  onItem: ((item: Received) => void) | undefined;
  readonly handler = (from: NodeId, frame: Frame, reply: Reply) => {
    const item = { from, frame, reply };
    this.items.push(item);
    this.onItem?.(item);
  };
  raft(): Message[] {
    return this.items.flatMap((i) => (i.frame.case === "raft" ? [i.frame.value] : []));
  }
  waitFor(count: number, deadlineMs = WAIT_DEADLINE_MS): Promise<void> {
    return waitUntil(() => this.items.length >= count, `${count} frames (have ${this.items.length})`, deadlineMs);
  }
}

export function raftMessage(from: NodeId, to: NodeId, index: number, entryBytes = 0): Message {
  return {
    type: 1,
    from,
    to,
    term: 3,
    logTerm: 3,
    index,
    entries: entryBytes > 0 ? [{ term: 3, index: index + 1, type: 0, data: new Uint8Array(entryBytes).map((_, i) => (i * 31 + index) & 0xff) }] : [],
    commit: index,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    snapshotOffset: 0,
    snapshotData: new Uint8Array(0),
    snapshotDone: false,
  };
}

export function raft(message: Message): Frame {
  return { case: "raft", value: message };
}

/** Creates transports and closes every one of them in cleanup(). */
export class Fleet {
  private readonly transports: PeerTransport[] = [];
  private readonly extra: (() => void)[] = [];

  make(nodeId: NodeId, inbox: Inbox, options: Partial<PeerTransportOptions> = {}, logger = new CapturingLogger()) {
    const transport = new PeerTransport({ nodeId, clusterId: "test-cluster", onFrame: inbox.handler, logger, ...options });
    this.transports.push(transport);
    return { transport, logger };
  }

  /** Anything else to undo (raw sockets, listeners). */
  defer(cleanup: () => void): void {
    this.extra.push(cleanup);
  }

  async cleanup(): Promise<void> {
    for (const cleanup of this.extra.splice(0)) {
      try {
        cleanup();
      } catch {
        // already closed
      }
    }
    await Promise.all(this.transports.splice(0).map((t) => t.close()));
  }
}

export interface CertFixture {
  dir: string;
  /** Peer material by node name, all from the main CA (n1's SANs: dkv-1.dkv.default.svc + 127.0.0.1). */
  peer(name: "n1" | "n2" | "n3"): PeerTlsMaterial;
  /** A peer certificate from another CA, trusting the main CA. */
  foreign(): PeerTlsMaterial;
  /** A peer certificate whose SANs are only other.example (no IP). */
  wrongName(): PeerTlsMaterial;
  /** A client certificate (clientAuth only) from the main CA: a client of the API, not a peer. */
  clientOnly(): PeerTlsMaterial;
  /** An API server certificate (serverAuth only) from the main CA, with n2's SANs. */
  serverOnly(): PeerTlsMaterial;
  remove(): void;
}

export async function mintCerts(): Promise<CertFixture> {
  const dir = mkdtempSync(join(tmpdir(), "dkv-transport-test-"));
  const mainDir = join(dir, "main");
  const otherDir = join(dir, "other");
  await initCa({ dir: mainDir });
  await initCa({ dir: otherDir, cn: "another CA" });
  await issueCert({ dir: mainDir, name: "n1", dns: ["dkv-1.dkv.default.svc"], ip: ["127.0.0.1"], kind: "peer" });
  await issueCert({ dir: mainDir, name: "n2", dns: ["dkv-2.dkv.default.svc"], ip: ["127.0.0.1"], kind: "peer" });
  await issueCert({ dir: mainDir, name: "n3", dns: ["dkv-3.dkv.default.svc"], ip: ["127.0.0.1"], kind: "peer" });
  await issueCert({ dir: mainDir, name: "wrong", dns: ["other.example"], kind: "peer" });
  await issueCert({ dir: mainDir, name: "app", kind: "client" });
  await issueCert({ dir: mainDir, name: "api", dns: ["dkv-2.dkv.default.svc"], ip: ["127.0.0.1"], kind: "server" });
  await issueCert({ dir: otherDir, name: "intruder", dns: ["dkv-9.dkv.default.svc"], ip: ["127.0.0.1"], kind: "peer" });
  const load = (certDir: string, name: string): PeerTlsMaterial => {
    const m = loadTlsFiles({ cert: join(certDir, `${name}.crt`), key: join(certDir, `${name}.key`), ca: join(mainDir, "ca.crt") });
    return { cert: m.cert, key: m.key, ca: m.ca! };
  };
  return {
    dir,
    peer: (name) => load(mainDir, name),
    foreign: () => load(otherDir, "intruder"),
    wrongName: () => load(mainDir, "wrong"),
    clientOnly: () => load(mainDir, "app"),
    serverOnly: () => load(mainDir, "api"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
