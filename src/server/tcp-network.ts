// The node's PeerNetwork over src/transport: TCP, or mutual TLS when peer
// certificates are configured. Raft messages to several peers go out in one
// pass; answers to forwarded requests go back by member id.
import { create } from "@bufbuild/protobuf";
import { type ForwardRequest, type ForwardResponse, RemovedSchema } from "../gen/dkv/raft/v1/raft_pb.ts";
import type { Message } from "../raft/index.ts";
import type { Storage } from "../storage/index.ts";
import { PeerTransport, parsePeerAddress, type PeerTlsMaterial, type Reply } from "../transport/index.ts";
import type { NodeConfig } from "./config.ts";
import type { Logger } from "./logger.ts";
import type { PeerNetwork, PeerNetworkHandlers } from "./peer-network.ts";

export interface TcpNetworkOptions {
  config: NodeConfig;
  store: Storage;
  log: Logger;
  /** PEM material for mutual TLS between members (loaded from the --peer-* files); plain TCP without it. */
  tls?: PeerTlsMaterial;
}

/** The peer network, plus certificate rotation for a member that runs mutual TLS. */
export interface TcpPeerNetwork extends PeerNetwork {
  /** Handshakes from now on use `material`; open connections keep theirs (PeerTransport.replaceTls). */
  replaceTls(material: PeerTlsMaterial): void;
}

/** A removed member that keeps sending (it retries elections) is told again at most this often. */
const REMOVED_NOTICE_INTERVAL_MS = 1000;

export function createTcpPeerNetwork(options: TcpNetworkOptions): TcpPeerNetwork {
  return new TcpPeers(options);
}

class TcpPeers implements TcpPeerNetwork {
  private transport: PeerTransport | undefined;
  private address = "";
  private readonly known = new Map<string, string>();
  private readonly tls: PeerTlsMaterial | undefined;
  /** When each removed member was last told so. */
  private readonly toldRemoved = new Map<string, number>();

  constructor(private readonly o: TcpNetworkOptions) {
    this.tls = o.tls;
  }

  get boundAddress(): string {
    return this.address;
  }

  replaceTls(material: PeerTlsMaterial): void {
    if (this.transport === undefined) throw new Error("the peer network has not started");
    this.transport.replaceTls(material);
  }

  async start(handlers: PeerNetworkHandlers): Promise<void> {
    const { config, store, log } = this.o;
    const transport = new PeerTransport({
      nodeId: config.name,
      clusterId: store.identity().clusterId,
      // A member that joined an existing cluster keeps the id it learns, so
      // after a restart it still refuses peers of any other cluster.
      onClusterIdLearned: (clusterId) => store.setIdentity({ clusterId }),
      ...(this.tls ? { tls: this.tls } : {}),
      logger: { info: (m) => log.info(m), warn: (m) => log.warn(m) },
      onFrame: (from, frame, reply) => {
        switch (frame.case) {
          case "raft":
            if (handlers.isRemoved(from)) {
              this.tellRemoved(from, reply);
              break;
            }
            handlers.onRaftMessage(frame.value);
            break;
          case "removed":
            if (frame.value.nodeId === config.name) handlers.onRemoved(from);
            break;
          case "forwardRequest":
            handlers.onForwardRequest(from, frame.value);
            break;
          case "forwardResponse":
            handlers.onForwardResponse(from, frame.value);
            break;
        }
      },
      onUnreachable: (id) => handlers.onUnreachable(id),
    });
    const listen = parsePeerAddress(config.listenPeerAddress);
    let bound;
    try {
      bound = transport.listen({ host: listen.host, port: listen.port });
    } catch (error) {
      await transport.close();
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot listen for peers on ${config.listenPeerAddress} (--listen-peer-address): ${reason}; is another process using it?`);
    }
    this.address = `${bound.host}:${bound.port}`;
    this.transport = transport;
    for (const [id, address] of this.known) transport.setPeerAddress(id, address);
  }

  /**
   * Answers a removed member on the connection its message came by (it is no
   * longer among the peers this member dials), at most once per
   * REMOVED_NOTICE_INTERVAL_MS.
   */
  private tellRemoved(id: string, reply: Reply): void {
    const now = performance.now();
    const last = this.toldRemoved.get(id);
    if (last !== undefined && now - last < REMOVED_NOTICE_INTERVAL_MS) return;
    if (last === undefined) this.o.log.info("a removed member still sends raft messages; telling it that it was removed", { member: id });
    this.toldRemoved.set(id, now);
    reply({ case: "removed", value: create(RemovedSchema, { nodeId: id }) });
  }

  setPeer(id: string, address: string): void {
    if (id === this.o.config.name || this.known.get(id) === address) return;
    this.known.set(id, address);
    this.transport?.setPeerAddress(id, address);
  }

  removePeer(id: string): void {
    this.known.delete(id);
    this.transport?.removePeer(id);
  }

  sendRaft(messages: Message[], flush = false): void {
    const transport = this.transport;
    if (!transport) return;
    for (const message of messages) transport.send(message.to, { case: "raft", value: message });
    if (flush) transport.flushNow();
  }

  sendForwardRequest(to: string, request: ForwardRequest): boolean {
    return this.transport?.send(to, { case: "forwardRequest", value: request }) ?? false;
  }

  sendForwardResponse(to: string, response: ForwardResponse): boolean {
    return this.transport?.send(to, { case: "forwardResponse", value: response }) ?? false;
  }

  connectedPeers(): number {
    let connected = 0;
    if (!this.transport) return 0;
    for (const id of this.known.keys()) if (this.transport.isConnected(id)) connected++;
    return connected;
  }

  async close(): Promise<void> {
    await this.transport?.close();
    this.transport = undefined;
  }
}
