// Peer traffic of one dkv node: a listener for the peers that dial us and one
// outbound connection per peer we send to. Frames are raft messages and
// forwarded requests/answers; the node receives them through onFrame with a
// `reply` that answers over the same connection. Never throws on what a peer
// sends: bad input closes that connection with a log line.
import type { TCPSocketListener } from "bun";
import type { NodeId } from "../raft/types";
import { type PeerAddress, parsePeerAddress } from "./address";
import type { Reply, TransportContext } from "./context";
import type { Frame } from "./frame-codec";
import { InboundConnection, inboundHandlers } from "./inbound";
import {
  DEFAULT_BACKOFF_INITIAL_MS,
  DEFAULT_BACKOFF_MAX_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HELLO_TIMEOUT_MS,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_QUEUED_BYTES,
  DEFAULT_MAX_QUEUED_FRAMES,
  FRAME_HEADER_BYTES,
  MAX_WRITE_BATCH_BYTES,
} from "./limits";
import { errorText } from "./link";
import { consoleLogger, type TransportLogger } from "./log";
import { PeerConnection } from "./peer-connection";
import { emptyStats, type TransportStats } from "./stats";
import { listenerTlsOptions, type PeerTlsMaterial } from "./tls";

export interface PeerTransportOptions {
  /** This node's id, sent in every Hello. */
  nodeId: NodeId;
  /** Peers with another cluster id are refused. "" (a member joining an existing cluster): learnt from the first peer dialed. */
  clusterId: string;
  /** Called once when an empty clusterId is learnt; the node should persist it. */
  onClusterIdLearned?: (clusterId: string, from: NodeId) => void;
  /** Called for every frame from a peer, in arrival order per connection. */
  onFrame: (from: NodeId, frame: Frame, reply: Reply) => void;
  /** A dial failed or a connection broke: raft should stop pipelining to this peer. */
  onUnreachable?: (id: NodeId) => void;
  /** Mutual TLS for both directions; without it, plain TCP (the node warns). */
  tls?: PeerTlsMaterial;
  logger?: TransportLogger;
  maxFrameBytes?: number;
  maxQueuedFrames?: number;
  maxQueuedBytes?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  connectTimeoutMs?: number;
  helloTimeoutMs?: number;
  /**
   * Maps the host of an advertised address to what to connect to (default:
   * itself, resolved by the socket). The TLS server name stays the advertised host.
   */
  resolveHost?: (host: string) => string | Promise<string>;
}

export interface ListenOptions {
  host: string;
  /** 0 lets the OS choose; the bound port is returned. */
  port: number;
  /** Same as the constructor's `tls` (and replaces it): the listener and the dialer use the same material. */
  tls?: PeerTlsMaterial;
}

/** replaceTls() left the transport without a listener: the member cannot be reached by its peers any more. */
export class ListenerLostError extends Error {
  override readonly name = "ListenerLostError";
}

export interface BoundAddress {
  host: string;
  port: number;
}

export class PeerTransport {
  private readonly context: TransportContext;
  private readonly peers = new Map<NodeId, PeerConnection>();
  private readonly inbound = new Set<InboundConnection>();
  private listener: TCPSocketListener<InboundConnection> | undefined;
  /** Where the listener is bound (the host as given, the port as bound): a new certificate binds it there again. */
  private listenAt: BoundAddress | undefined;
  private closed = false;

  constructor(options: PeerTransportOptions) {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const maxQueuedBytes = options.maxQueuedBytes ?? Math.max(DEFAULT_MAX_QUEUED_BYTES, 2 * (maxFrameBytes + FRAME_HEADER_BYTES));
    if (!(maxFrameBytes > 0 && maxFrameBytes <= 0xffffffff)) throw new RangeError(`maxFrameBytes ${maxFrameBytes} must be in 1..2^32-1`);
    if (maxQueuedBytes < maxFrameBytes + FRAME_HEADER_BYTES) {
      throw new RangeError(`maxQueuedBytes ${maxQueuedBytes} must hold at least one maximal frame (${maxFrameBytes} bytes)`);
    }
    const logger = options.logger ?? consoleLogger;
    const onFrame = options.onFrame;
    const onUnreachable = options.onUnreachable;
    const inbound = this.inbound;
    this.context = {
      nodeId: options.nodeId,
      clusterId: options.clusterId,
      maxFrameBytes,
      writerLimits: {
        maxQueuedFrames: options.maxQueuedFrames ?? DEFAULT_MAX_QUEUED_FRAMES,
        maxQueuedBytes,
        maxWriteBatchBytes: MAX_WRITE_BATCH_BYTES,
      },
      backoff: {
        initialMs: options.backoffInitialMs ?? DEFAULT_BACKOFF_INITIAL_MS,
        maxMs: options.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS,
      },
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      helloTimeoutMs: options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS,
      tls: options.tls,
      resolveHost: options.resolveHost ?? ((host) => host),
      logger,
      stats: emptyStats(),
      advertisedHost: (id) => this.peers.get(id)?.advertisedHost,
      learnClusterId(clusterId, from) {
        if (this.clusterId !== "" || clusterId === "") return;
        this.clusterId = clusterId;
        logger.info(`learned cluster id ${clusterId} from peer ${from}`);
        for (const connection of inbound) connection.closeIfForeign(clusterId);
        try {
          options.onClusterIdLearned?.(clusterId, from);
        } catch (error) {
          logger.warn(`onClusterIdLearned failed: ${errorText(error)}`);
        }
      },
      deliver(from, frame, reply) {
        try {
          onFrame(from, frame, reply);
        } catch (error) {
          // The node's bug must not kill the connection or the socket loop.
          logger.warn(`frame handler failed on a ${frame.case} frame from ${from}: ${errorText(error)}`);
        }
      },
      reportUnreachable(id) {
        try {
          onUnreachable?.(id);
        } catch (error) {
          logger.warn(`onUnreachable(${id}) failed: ${errorText(error)}`);
        }
      },
    };
  }

  /** Starts accepting peers. Throws if the address cannot be bound. */
  listen(options: ListenOptions): BoundAddress {
    if (this.closed) throw new Error("transport is closed");
    if (this.listener !== undefined) throw new Error("transport is already listening");
    if (options.tls !== undefined) this.context.tls = options.tls;
    this.listener = this.bind(options.host, options.port);
    this.listenAt = { host: options.host, port: this.listener.port };
    return { ...this.listenAt };
  }

  /**
   * Certificate rotation: handshakes from now on use `material`, both the
   * ones this member dials and the ones it accepts (the listener is bound
   * again on the same port; Bun cannot change a listener's certificate in
   * place). Connections already open keep the certificates they were made
   * with. Throws when the transport runs without TLS (plain TCP does not turn
   * into TLS in place) or when the port cannot be bound again; in that case
   * nothing listens any more and the member should stop.
   */
  replaceTls(material: PeerTlsMaterial): void {
    if (this.closed) return;
    const previous = this.context.tls;
    if (previous === undefined) throw new Error("the peer transport runs without TLS; certificates cannot be added while it runs");
    this.context.tls = material;
    const old = this.listener;
    const at = this.listenAt;
    if (old === undefined || at === undefined) return;
    // Only the listening socket closes: accepted connections live on with their handlers.
    old.stop(false);
    this.listener = undefined;
    try {
      this.listener = this.bind(at.host, at.port);
    } catch (error) {
      this.context.tls = previous;
      try {
        this.listener = this.bind(at.host, at.port);
      } catch (again) {
        throw new ListenerLostError(`the peer port ${at.host}:${at.port} could not be bound again (${errorText(again)}); no peer can reach this member`);
      }
      throw new Error(`the peer port keeps its certificate: ${errorText(error)}`);
    }
  }

  private bind(host: string, port: number): TCPSocketListener<InboundConnection> {
    const tls = this.context.tls;
    return Bun.listen<InboundConnection>({
      hostname: host,
      port,
      ...(tls === undefined ? {} : { tls: listenerTlsOptions(tls) }),
      socket: inboundHandlers(this.context, this.inbound),
    });
  }

  /**
   * Queues a frame for a peer (sent in this tick's batch once connected).
   * False when it could not be queued: unknown peer, too large, closed.
   * A full queue drops its oldest frames instead (counted in framesDropped).
   */
  send(to: NodeId, frame: Frame): boolean {
    const peer = this.peers.get(to);
    if (peer === undefined || this.closed) {
      this.context.stats.framesDropped++;
      return false;
    }
    return peer.send(frame);
  }

  /** Writes every peer's queued frames now rather than at the end of the tick. */
  flushNow(): void {
    for (const peer of this.peers.values()) peer.flush();
  }

  /** Adds a peer or changes its advertised address ("host:port"). Throws AddressError on a malformed address. */
  setPeerAddress(id: NodeId, address: string): void {
    if (this.closed) return;
    if (id === this.context.nodeId) throw new Error(`cannot add this node (${id}) as its own peer`);
    const parsed: PeerAddress = parsePeerAddress(address);
    const existing = this.peers.get(id);
    if (existing === undefined) this.peers.set(id, new PeerConnection(id, parsed, this.context));
    else existing.setAddress(parsed);
  }

  /** Forgets a peer: its connection is closed and its queued frames dropped. */
  removePeer(id: NodeId): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  /** Peers and their advertised addresses. */
  peerAddresses(): Map<NodeId, string> {
    return new Map([...this.peers].map(([id, peer]) => [id, peer.addressText]));
  }

  isConnected(id: NodeId): boolean {
    return this.peers.get(id)?.isReady ?? false;
  }

  /** A snapshot of the counters. */
  stats(): TransportStats {
    return { ...this.context.stats };
  }

  /** Stops the listener and closes every connection; queued frames are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    this.listener?.stop(true);
    this.listener = undefined;
    for (const connection of this.inbound) connection.close();
    this.inbound.clear();
  }
}
