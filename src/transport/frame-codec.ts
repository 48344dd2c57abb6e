// What travels in a frame, as the node sees it, and its encoding. Raft
// messages use the hand-written fast path (raft-wire.ts); Hello and the
// forwarded requests/answers are small and rarer, so the generated protobuf
// code encodes them.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type ForwardRequest,
  ForwardRequestSchema,
  type ForwardResponse,
  ForwardResponseSchema,
  type Hello,
  HelloSchema,
  type PeerFrame,
  PeerFrameSchema,
  type Removed,
  RemovedSchema,
} from "../gen/dkv/raft/v1/raft_pb";
import type { Message } from "../raft/types";
import { protoToRaft } from "./codec";
import { writeFrameHeader } from "./framing";
import { FRAME_HEADER_BYTES } from "./limits";
import { decodeRaftMessage, encodeRaftFrame, PEER_FRAME_RAFT_FIELD } from "./raft-wire";
import { WIRE_LEN, WireError, WireReader } from "./wire";

/** A frame the node sends or receives (the transport handles Hello itself). Same shape as PeerFrame's `kind`. */
export type Frame =
  | { case: "raft"; value: Message }
  | { case: "forwardRequest"; value: ForwardRequest }
  | { case: "forwardResponse"; value: ForwardResponse }
  | { case: "removed"; value: Removed };

/** Everything that can arrive on a connection. */
export type WireFrame = Frame | { case: "hello"; value: Hello };

const PEER_FRAME_HELLO_FIELD = 2;
const PEER_FRAME_FORWARD_REQUEST_FIELD = 3;
const PEER_FRAME_FORWARD_RESPONSE_FIELD = 4;
const PEER_FRAME_REMOVED_FIELD = 5;

/** The complete frame (length header + PeerFrame bytes) in one buffer. */
export function encodeFrame(frame: WireFrame): Uint8Array {
  if (frame.case === "raft") return encodeRaftFrame(frame.value);
  const body = toBinary(PeerFrameSchema, toPeerFrame(frame));
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.length);
  writeFrameHeader(out, body.length);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

function toPeerFrame(frame: Exclude<WireFrame, { case: "raft" }>): PeerFrame {
  switch (frame.case) {
    case "hello":
      return { $typeName: "dkv.raft.v1.PeerFrame", kind: { case: "hello", value: frame.value } };
    case "forwardRequest":
      return { $typeName: "dkv.raft.v1.PeerFrame", kind: { case: "forwardRequest", value: frame.value } };
    case "forwardResponse":
      return { $typeName: "dkv.raft.v1.PeerFrame", kind: { case: "forwardResponse", value: frame.value } };
    case "removed":
      return { $typeName: "dkv.raft.v1.PeerFrame", kind: { case: "removed", value: frame.value } };
  }
}

/**
 * Decodes one frame body. Returns undefined for a frame whose kind this build
 * does not know (a newer peer's addition). Throws WireError/CodecError on
 * bytes that are not a PeerFrame.
 */
export function decodeFrame(body: Uint8Array): WireFrame | undefined {
  // PeerFrame is a oneof: find the last kind field (protobuf: last one wins).
  const reader = new WireReader(body);
  let kindField = 0;
  let kindStart = 0;
  let kindEnd = 0;
  while (!reader.done) {
    const key = reader.uint("frame tag");
    const field = key >>> 3;
    const wireType = key & 7;
    if (field >= PEER_FRAME_RAFT_FIELD && field <= PEER_FRAME_REMOVED_FIELD) {
      if (wireType !== WIRE_LEN) throw new WireError(`frame field ${field} has wire type ${wireType}, expected 2`);
      [kindStart, kindEnd] = reader.lengthDelimited(`frame field ${field}`);
      kindField = field;
    } else {
      reader.skip(wireType, `frame field ${field}`);
    }
  }
  const value = body.subarray(kindStart, kindEnd);
  switch (kindField) {
    case PEER_FRAME_RAFT_FIELD:
      return { case: "raft", value: decodeRaftMessage(body, kindStart, kindEnd) };
    case PEER_FRAME_HELLO_FIELD:
      return { case: "hello", value: fromBinary(HelloSchema, value) };
    case PEER_FRAME_FORWARD_REQUEST_FIELD:
      return { case: "forwardRequest", value: fromBinary(ForwardRequestSchema, value) };
    case PEER_FRAME_FORWARD_RESPONSE_FIELD:
      return { case: "forwardResponse", value: fromBinary(ForwardResponseSchema, value) };
    case PEER_FRAME_REMOVED_FIELD:
      return { case: "removed", value: fromBinary(RemovedSchema, value) };
    default:
      return undefined;
  }
}

/** For callers holding a generated PeerFrame (tests, tools): the same frame in transport shape. */
export function frameFromPeerFrame(frame: PeerFrame): WireFrame | undefined {
  switch (frame.kind.case) {
    case "raft":
      return { case: "raft", value: protoToRaft(frame.kind.value) };
    case "hello":
    case "forwardRequest":
    case "forwardResponse":
    case "removed":
      return frame.kind as WireFrame;
    default:
      return undefined;
  }
}
