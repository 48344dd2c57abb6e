// Pieces both connection directions share: turning read chunks into frames
// with every failure mapped to one log-able reason, the Hello exchange, and
// encoding a frame for sending within the size limit.
import type { Hello } from "../gen/dkv/raft/v1/raft_pb";
import type { TransportContext } from "./context";
import { decodeFrame, encodeFrame, type WireFrame } from "./frame-codec";
import { type FrameDecoder, FrameTooLargeError } from "./framing";
import { FRAME_HEADER_BYTES, PROTOCOL_VERSION } from "./limits";

/**
 * Feeds one read to the decoder and each decoded frame to `onFrame`.
 * Returns undefined, or why the connection must be closed (the frames before
 * the bad one were delivered). `onFrame` may return a reason to stop too.
 */
export function receiveChunk(
  decoder: FrameDecoder,
  chunk: Uint8Array,
  onFrame: (frame: WireFrame) => string | undefined,
): string | undefined {
  let stop: string | undefined;
  try {
    decoder.push(chunk, (body) => {
      if (stop !== undefined) return;
      let frame: WireFrame | undefined;
      try {
        frame = decodeFrame(body);
      } catch (error) {
        stop = `undecodable frame of ${body.length} bytes (${errorText(error)})`;
        return;
      }
      if (frame !== undefined) stop = onFrame(frame);
    });
  } catch (error) {
    if (error instanceof FrameTooLargeError) return `${error.message}`;
    throw error;
  }
  return stop;
}

export function helloFrame(context: TransportContext): Uint8Array {
  return encodeFrame({
    case: "hello",
    value: {
      $typeName: "dkv.raft.v1.Hello",
      clusterId: context.clusterId,
      nodeId: context.nodeId,
      protocolVersion: PROTOCOL_VERSION,
    },
  });
}

/** Why this Hello is refused, or undefined. `expectedNodeId` is who we dialed. */
export function helloRefusal(hello: Hello, context: TransportContext, expectedNodeId?: string): string | undefined {
  // A member that joined an existing cluster has no cluster id until it learns
  // one; only two known, different ids are a mismatch.
  if (hello.clusterId !== "" && context.clusterId !== "" && hello.clusterId !== context.clusterId) {
    return `Hello for cluster ${JSON.stringify(hello.clusterId)}, this node is in cluster ${JSON.stringify(context.clusterId)}`;
  }
  if (hello.protocolVersion !== PROTOCOL_VERSION) {
    return `Hello with protocol version ${hello.protocolVersion}, this node speaks ${PROTOCOL_VERSION}`;
  }
  if (hello.nodeId === "") return "Hello without a node id";
  if (expectedNodeId !== undefined && hello.nodeId !== expectedNodeId) {
    return `the node there says it is ${JSON.stringify(hello.nodeId)}, expected ${JSON.stringify(expectedNodeId)}`;
  }
  if (expectedNodeId === undefined && hello.nodeId === context.nodeId) {
    return `Hello claims this node's own id ${JSON.stringify(hello.nodeId)}`;
  }
  return undefined;
}

/** Encodes a frame for sending, or returns why it cannot be sent (too large, invalid). */
export function encodeForSend(frame: WireFrame, context: TransportContext): Uint8Array | string {
  let bytes: Uint8Array;
  try {
    bytes = encodeFrame(frame);
  } catch (error) {
    return `cannot encode ${frame.case} frame: ${errorText(error)}`;
  }
  const bodyBytes = bytes.length - FRAME_HEADER_BYTES;
  if (bodyBytes > context.maxFrameBytes) {
    return `${frame.case} frame of ${bodyBytes} bytes exceeds the limit of ${context.maxFrameBytes} bytes`;
  }
  return bytes;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
