// What every connection of one transport shares: identity, limits, TLS,
// counters, the logger and the node's callbacks. Built once by PeerTransport.
import type { NodeId } from "../raft/types";
import type { BackoffPolicy } from "./backoff";
import type { Frame } from "./frame-codec";
import type { FrameWriterLimits } from "./frame-writer";
import type { TransportLogger } from "./log";
import type { TransportStats } from "./stats";
import type { PeerTlsMaterial } from "./tls";

/** Sends a frame back over the connection the current frame came on. False if it could not be queued. */
export type Reply = (frame: Frame) => boolean;

export interface TransportContext {
  readonly nodeId: NodeId;
  /** "" until a member that joined an existing cluster learns it (see PeerConnection's Hello). */
  clusterId: string;
  readonly maxFrameBytes: number;
  readonly writerLimits: FrameWriterLimits;
  readonly backoff: BackoffPolicy;
  /** Dial deadline: TCP + TLS + the peer's Hello. */
  readonly connectTimeoutMs: number;
  /** An accepted connection must say Hello within this. */
  readonly helloTimeoutMs: number;
  tls: PeerTlsMaterial | undefined;
  readonly resolveHost: (host: string) => string | Promise<string>;
  readonly logger: TransportLogger;
  readonly stats: TransportStats;
  /** Host of a known peer's advertised address (undefined for a peer not known yet). */
  advertisedHost(id: NodeId): string | undefined;
  /** This node had no cluster id and a peer it dialed answered with one: it is ours from now on. */
  learnClusterId(clusterId: string, from: NodeId): void;
  /** Hands a frame to the node (exceptions are caught and logged there). */
  deliver(from: NodeId, frame: Frame, reply: Reply): void;
  reportUnreachable(id: NodeId): void;
}
