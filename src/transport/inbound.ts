// Accepted peer connections. A connection is trusted only after (1) TLS, when
// configured, verified the client's certificate against the peer CA and (2)
// its first frame was a Hello for this cluster; until then it may not make us
// buffer more than MAX_HELLO_FRAME_BYTES and gets helloTimeoutMs to speak.
// Any violation: one log line, the connection is closed, the listener serves on.
import type { Socket, SocketHandler } from "bun";
import type { NodeId } from "../raft/types";
import type { Reply, TransportContext } from "./context";
import type { Frame, WireFrame } from "./frame-codec";
import { FrameWriter } from "./frame-writer";
import { FrameDecoder } from "./framing";
import { MAX_HELLO_FRAME_BYTES, REPEAT_LOG_INTERVAL_MS } from "./limits";
import { encodeForSend, helloFrame, helloRefusal, receiveChunk } from "./link";
import { DropReporter, RepeatLimiter } from "./log";
import { handshakeRefusal, peerIdentityRefusal } from "./tls";

export class InboundConnection {
  /** Set by a valid Hello. */
  peerId: NodeId | null = null;
  /** The cluster its Hello named ("" for a joiner that does not know yet). */
  private peerClusterId = "";
  private readonly decoder = new FrameDecoder(MAX_HELLO_FRAME_BYTES);
  private readonly writer: FrameWriter;
  private tlsVerified: boolean;
  private closed = false;
  private flushScheduled = false;
  /** Our Hello answer, or the part of it the socket has not taken yet (written ahead of any frame). */
  private helloRest: Uint8Array | null = null;
  private helloTimer: ReturnType<typeof setTimeout> | undefined;
  readonly reply: Reply = (frame) => this.send(frame);

  constructor(
    private readonly socket: Socket<InboundConnection>,
    private readonly context: TransportContext,
    private readonly refusals: RefusalLog,
  ) {
    this.tlsVerified = context.tls === undefined;
    const drops = new DropReporter(`of replies on an inbound connection from ${socket.remoteAddress}`, context.logger, REPEAT_LOG_INTERVAL_MS);
    this.writer = new FrameWriter(context.writerLimits, (frames, reason) => {
      context.stats.framesDropped += frames;
      drops.note(frames, reason);
    });
    this.writer.attach(socket);
    const helloTimeoutMs = context.helloTimeoutMs;
    this.helloTimer = setTimeout(() => this.refuse("timeout", `no Hello within ${helloTimeoutMs} ms`), helloTimeoutMs);
  }

  private get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  onHandshake(authError: Error | null): void {
    const refusal = handshakeRefusal(this.socket, authError);
    if (refusal !== undefined) this.refuse("tls", `TLS client certificate refused: ${refusal}`);
    else this.tlsVerified = true;
  }

  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    if (!this.tlsVerified) {
      this.refuse("tls", "data before the TLS client certificate was verified");
      return;
    }
    this.context.stats.bytesReceived += chunk.length;
    if (this.peerId === null && this.decoder.bufferedBytes === 0 && looksLikeHttp(chunk)) {
      this.refuseHttp();
      return;
    }
    const stop = receiveChunk(this.decoder, chunk, (frame) => this.onFrame(frame));
    if (stop !== undefined) {
      this.context.stats.protocolErrors++;
      this.refuse("frame", stop);
    }
  }

  private onFrame(frame: WireFrame): string | undefined {
    if (this.closed) return undefined;
    if (this.peerId === null) {
      if (frame.case !== "hello") return `first frame is ${frame.case}, expected Hello`;
      const refusal = helloRefusal(frame.value, this.context) ?? this.identityRefusal(frame.value.nodeId);
      if (refusal !== undefined) return refusal;
      this.peerClusterId = frame.value.clusterId;
      this.accept(frame.value.nodeId);
      return undefined;
    }
    if (frame.case === "hello") return "a second Hello on the same connection";
    this.context.stats.framesReceived++;
    this.context.deliver(this.peerId, frame, this.reply);
    return undefined;
  }

  /**
   * With TLS, a peer that claims a known member's id must hold a certificate
   * for that member's advertised host. An id not known yet is let in: a
   * member that missed a membership change learns of the new leader only
   * through that leader's messages.
   */
  private identityRefusal(claimed: NodeId): string | undefined {
    if (this.context.tls === undefined) return undefined;
    const host = this.context.advertisedHost(claimed);
    return host === undefined ? undefined : peerIdentityRefusal(this.socket, claimed, host);
  }

  private accept(peerId: NodeId): void {
    clearTimeout(this.helloTimer);
    this.peerId = peerId;
    this.decoder.maxFrameBytes = this.context.maxFrameBytes;
    this.context.stats.connectionsAccepted++;
    this.context.stats.inboundConnected++;
    this.helloRest = helloFrame(this.context);
    this.flush();
  }

  send(frame: Frame): boolean {
    if (this.closed || this.peerId === null) {
      this.context.stats.framesDropped++;
      return false;
    }
    const bytes = encodeForSend(frame, this.context);
    if (typeof bytes === "string") {
      this.context.stats.framesDropped++;
      this.context.logger.warn(`reply to peer ${this.peerId} dropped: ${bytes}`);
      return false;
    }
    if (!this.writer.enqueue(bytes)) return false;
    if (!this.flushScheduled) {
      // Everything replied in this tick leaves in one write.
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
    return true;
  }

  flush(): void {
    if (this.closed) return;
    if (this.helloRest !== null) {
      const written = this.socket.write(this.helloRest);
      if (written < 0) return;
      this.helloRest = written < this.helloRest.length ? this.helloRest.subarray(written) : null;
      if (this.helloRest !== null) return; // the rest on drain
    }
    const result = this.writer.flush();
    this.context.stats.framesSent += result.framesWritten;
    this.context.stats.bytesSent += result.bytesWritten;
    this.context.stats.partialWrites += result.partialWrites;
  }

  /**
   * A client (curl, a dkv client) pointed at the peer port: answer in its own
   * protocol, so it is told where to go instead of seeing a reset; then close.
   */
  private refuseHttp(): void {
    this.context.stats.protocolErrors++;
    const body = "this is a dkv member's peer port (raft traffic between members); clients connect to its client port (--listen-client-address, 2379 by default)\n";
    const response = `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
    this.socket.write(response);
    const who = this.remote;
    const line = this.refusals.note("frame", `closed peer connection from ${who}: an HTTP request on the peer port (a client pointed at the wrong port?)`);
    if (line !== undefined) this.context.logger.warn(line);
    this.context.stats.connectionsRefused++;
    // end(), not terminate(): the answer must reach the client before the connection goes.
    this.socket.end();
    this.onClose();
  }

  private refuse(kind: RefusalKind, reason: string): void {
    if (this.closed) return;
    const who = this.peerId === null ? this.remote : `peer ${this.peerId} (${this.remote})`;
    const line = this.refusals.note(kind, `closed peer connection from ${who}: ${reason}`);
    if (line !== undefined) this.context.logger.warn(line);
    this.context.stats.connectionsRefused++;
    this.socket.terminate();
    this.onClose();
  }

  /** Closes a connection let in while this node had no cluster id, if its Hello named another cluster than the one learned since. */
  closeIfForeign(clusterId: string): void {
    if (this.peerId === null || this.peerClusterId === "" || this.peerClusterId === clusterId) return;
    this.refuse("frame", `its Hello was for cluster ${JSON.stringify(this.peerClusterId)}, and this node has learned it is in cluster ${JSON.stringify(clusterId)}`);
  }

  /** Closes from our side (transport shutting down). */
  close(): void {
    if (this.closed) return;
    this.socket.terminate();
    this.onClose();
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.helloTimer);
    if (this.peerId !== null) this.context.stats.inboundConnected--;
    this.writer.clear("connection closed");
  }
}

type RefusalKind = "tls" | "frame" | "timeout";

/** Refusal lines per kind per REPEAT_LOG_INTERVAL_MS before they are only counted. */
const REFUSAL_LOG_BURST = 5;

/** Refusals are logged per kind at most once per interval: a port scanner must not flood the log. */
export class RefusalLog {
  private readonly limiters = new Map<RefusalKind, RepeatLimiter>();

  note(kind: RefusalKind, line: string): string | undefined {
    let limiter = this.limiters.get(kind);
    if (limiter === undefined) {
      limiter = new RepeatLimiter(REPEAT_LOG_INTERVAL_MS, REFUSAL_LOG_BURST);
      this.limiters.set(kind, limiter);
    }
    return limiter.note(line);
  }
}

/** Bun.listen handlers: one InboundConnection per socket, kept in `live` for close(). */
export function inboundHandlers(
  context: TransportContext,
  live: Set<InboundConnection>,
): SocketHandler<InboundConnection> {
  const refusals = new RefusalLog();
  return {
    binaryType: "uint8array",
    open(socket) {
      socket.data = new InboundConnection(socket, context, refusals);
      live.add(socket.data);
    },
    handshake(socket, _success, authError) {
      // `_success` is not the verdict (see tls.ts); the connection checks socket.authorized.
      socket.data?.onHandshake(authError);
    },
    data(socket, chunk) {
      socket.data?.onData(chunk);
    },
    drain(socket) {
      socket.data?.flush();
    },
    close(socket) {
      if (socket.data === undefined) return;
      socket.data.onClose();
      live.delete(socket.data);
    },
    error(socket, error) {
      // A TLS failure or a thrown handler: the socket closes after this; close() cleans up.
      if (socket.data?.peerId === null) return; // refusal is logged by the handshake/timeout path
      context.logger.warn(`peer connection from ${socket.data?.peerId ?? socket.remoteAddress} failed: ${error.message}`);
    },
  };
}

const HTTP_METHODS = ["GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "PRI "];

/** The first bytes of an HTTP/1.x request (or of HTTP/2's preface): no frame length starts with these letters. */
function looksLikeHttp(chunk: Uint8Array): boolean {
  if (chunk.length < 4) return false;
  const start = String.fromCharCode(chunk[0]!, chunk[1]!, chunk[2]!, chunk[3]!);
  return HTTP_METHODS.includes(start);
}
