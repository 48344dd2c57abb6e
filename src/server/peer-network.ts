// What the node needs from the peer transport: raft messages both ways and
// the node-level requests a follower forwards to the leader. Both directions
// use plain sends to a member id, so an answer never depends on the
// connection its question came on.
import type { ForwardRequest, ForwardResponse } from "../gen/dkv/raft/v1/raft_pb.ts";
import type { Message } from "../raft/index.ts";

export interface PeerNetworkHandlers {
  onRaftMessage(message: Message): void;
  onForwardRequest(from: string, request: ForwardRequest): void;
  onForwardResponse(from: string, response: ForwardResponse): void;
  /** A peer could not be reached: raft should stop pipelining to it. */
  onUnreachable(id: string): void;
  /** True for a member removed from the cluster: its raft messages get a Removed answer instead of reaching raft. */
  isRemoved(id: string): boolean;
  /** A member told this one that it was removed from the cluster. */
  onRemoved(from: string): void;
}

export interface PeerNetwork {
  /** Address the peer listener is bound to (host:port), known after start(). */
  readonly boundAddress: string;
  start(handlers: PeerNetworkHandlers): Promise<void>;
  setPeer(id: string, address: string): void;
  removePeer(id: string): void;
  /** Queues raft messages; with flush, they are written to the sockets before this returns. */
  sendRaft(messages: Message[], flush?: boolean): void;
  /** False when the frame could not even be queued (peer unknown or queue full): it was not sent. */
  sendForwardRequest(to: string, request: ForwardRequest): boolean;
  sendForwardResponse(to: string, response: ForwardResponse): boolean;
  connectedPeers(): number;
  close(): Promise<void>;
}
