// Counters for /metrics. Monotonic unless named as a current value.

export interface TransportStats {
  framesSent: number;
  framesReceived: number;
  /** Frames given up: queue overflow, lost mid-write, unknown peer, too large, peer removed. */
  framesDropped: number;
  bytesSent: number;
  bytesReceived: number;
  /** Socket writes that took only part of a batch (the rest resumed on drain). */
  partialWrites: number;
  /** Outbound connections that completed TLS + Hello. */
  connectionsOpened: number;
  /** Inbound connections that completed TLS + Hello. */
  connectionsAccepted: number;
  /** Inbound connections closed for a bad certificate, Hello, frame or timeout. */
  connectionsRefused: number;
  /** Dials after the first to a peer. */
  reconnects: number;
  /** Dials that failed (refused, timed out, TLS rejected, wrong Hello). */
  connectFailures: number;
  /** Frames that were not valid PeerFrames or exceeded the size limit. */
  protocolErrors: number;
  /** Current: outbound connections ready to carry frames. */
  outboundConnected: number;
  /** Current: inbound connections past Hello. */
  inboundConnected: number;
}

export function emptyStats(): TransportStats {
  return {
    framesSent: 0,
    framesReceived: 0,
    framesDropped: 0,
    bytesSent: 0,
    bytesReceived: 0,
    partialWrites: 0,
    connectionsOpened: 0,
    connectionsAccepted: 0,
    connectionsRefused: 0,
    reconnects: 0,
    connectFailures: 0,
    protocolErrors: 0,
    outboundConnected: 0,
    inboundConnected: 0,
  };
}
