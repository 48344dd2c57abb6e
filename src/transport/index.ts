// Peer transport of dkv: length-prefixed dkv.raft.v1 frames over Bun TCP/TLS
// sockets, mutual TLS, one outbound connection per peer, bounded queues.
export { AddressError, type PeerAddress, parsePeerAddress } from "./address";
export { type BackoffPolicy, backoffDelayMs } from "./backoff";
export { CodecError, protoToRaft, raftFrame, raftToProto } from "./codec";
export type { Reply } from "./context";
export { decodeFrame, encodeFrame, type Frame, frameFromPeerFrame, type WireFrame } from "./frame-codec";
export { type ByteSink, FrameWriter, type FrameWriterLimits } from "./frame-writer";
export { FrameDecoder, FrameTooLargeError, writeFrameHeader } from "./framing";
export * from "./limits";
export { consoleLogger, type TransportLogger } from "./log";
export { type BoundAddress, type ListenOptions, ListenerLostError, PeerTransport, type PeerTransportOptions } from "./peer-transport";
export type { TransportStats } from "./stats";
export type { PeerTlsMaterial } from "./tls";
