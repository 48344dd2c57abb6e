// An in-process PeerNetwork for testing several real DkvNodes (real sqlite
// storage, real timers) in one process without sockets. Links can be cut.
// Every frame goes through the real wire codec, as over a socket: a field the
// encoder refuses (say, a fraction in a uint32) fails here as it would there.
import type { ForwardRequest, ForwardResponse } from "../../src/gen/dkv/raft/v1/raft_pb.ts";
import type { Message } from "../../src/raft/index.ts";
import type { PeerNetwork, PeerNetworkHandlers } from "../../src/server/peer-network.ts";
import { decodeFrame, encodeFrame, type Frame } from "../../src/transport/frame-codec.ts";

/** The frame as the receiver would decode it from the wire (throws where the sender's encoder would refuse it). */
function overTheWire<F extends Frame>(frame: F): F["value"] {
  const decoded = decodeFrame(encodeFrame(frame).subarray(4));
  if (decoded?.case !== frame.case) throw new Error(`a ${frame.case} frame decoded as ${decoded?.case}`);
  return decoded.value as F["value"];
}

export class MemoryHub {
  readonly endpoints = new Map<string, MemoryNetwork>();
  /** Directed links that drop everything: "from>to". */
  readonly cut = new Set<string>();

  network(id: string): MemoryNetwork {
    const network = new MemoryNetwork(id, this);
    this.endpoints.set(id, network);
    return network;
  }

  isolate(id: string): void {
    for (const other of this.endpoints.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  deliver(from: string, to: string, deliverTo: (h: PeerNetworkHandlers) => void): boolean {
    if (this.cut.has(`${from}>${to}`)) return true; // Sent into the void, as a dead link would.
    const target = this.endpoints.get(to);
    if (!target?.handlers) return false;
    const handlers = target.handlers;
    queueMicrotask(() => deliverTo(handlers));
    return true;
  }
}

export class MemoryNetwork implements PeerNetwork {
  handlers: PeerNetworkHandlers | undefined;
  readonly boundAddress: string;

  constructor(
    readonly id: string,
    private readonly hub: MemoryHub,
  ) {
    this.boundAddress = `memory:${id}`;
  }

  async start(handlers: PeerNetworkHandlers): Promise<void> {
    this.handlers = handlers;
  }
  setPeer(): void {}
  removePeer(): void {}
  sendRaft(messages: Message[]): void {
    for (const message of messages) {
      const copy = overTheWire({ case: "raft", value: message });
      this.hub.deliver(this.id, message.to, (h) => h.onRaftMessage(copy));
    }
  }
  sendForwardRequest(to: string, request: ForwardRequest): boolean {
    const copy = overTheWire({ case: "forwardRequest", value: request });
    return this.hub.deliver(this.id, to, (h) => h.onForwardRequest(this.id, copy));
  }
  sendForwardResponse(to: string, response: ForwardResponse): boolean {
    const copy = overTheWire({ case: "forwardResponse", value: response });
    return this.hub.deliver(this.id, to, (h) => h.onForwardResponse(this.id, copy));
  }
  connectedPeers(): number {
    return this.hub.endpoints.size - 1;
  }
  async close(): Promise<void> {
    this.handlers = undefined;
    this.hub.endpoints.delete(this.id);
  }
}
