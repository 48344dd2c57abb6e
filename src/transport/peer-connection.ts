// The ONE outbound connection to one peer. Opened lazily by the first frame
// queued for the peer; ready only after TLS verified the server (name = the
// host of the peer's advertised address) and the peer answered with a Hello
// naming the expected node and cluster. Frames wait in a bounded queue while
// it is not ready. A failed dial or a lost connection is reported and retried
// after a capped, jittered exponential backoff, only while frames are waiting.
import type { Socket, SocketHandler } from "bun";
import type { NodeId } from "../raft/types";
import type { PeerAddress } from "./address";
import { backoffDelayMs } from "./backoff";
import type { Reply, TransportContext } from "./context";
import type { Frame, WireFrame } from "./frame-codec";
import { FrameWriter } from "./frame-writer";
import { FrameDecoder } from "./framing";
import { MAX_HELLO_FRAME_BYTES, REPEAT_LOG_INTERVAL_MS } from "./limits";
import { encodeForSend, errorText, helloFrame, helloRefusal, receiveChunk } from "./link";
import { DropReporter, RepeatLimiter } from "./log";
import { dialerTlsOptions, handshakeRefusal } from "./tls";

/** A connection that stayed up at least this long resets the backoff; shorter ones count as failures. */
const STABLE_CONNECTION_MS = 1000;

type State = "idle" | "dialing" | "ready" | "backoff" | "closed";

/** One dial attempt; events from an attempt that is no longer current are ignored. */
interface Dial {
  socket: Socket<Dial> | null;
  decoder: FrameDecoder;
  /** Our Hello, or what the socket has not taken of it yet. */
  helloRest: Uint8Array | null;
  timer: ReturnType<typeof setTimeout> | undefined;
  readyAtMs: number;
  lastError: string | undefined;
  ended: boolean;
}

export class PeerConnection {
  private state: State = "idle";
  private dial: Dial | null = null;
  private readonly writer: FrameWriter;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Consecutive failed dials (or short-lived connections): drives the backoff. */
  private failures = 0;
  private dials = 0;
  private flushScheduled = false;
  private readonly downLog = new RepeatLimiter(REPEAT_LOG_INTERVAL_MS);
  private readonly sendFailureLog = new RepeatLimiter(REPEAT_LOG_INTERVAL_MS);
  private readonly drops: DropReporter;
  readonly reply: Reply = (frame) => this.send(frame);

  constructor(
    readonly peerId: NodeId,
    private address: PeerAddress,
    private readonly context: TransportContext,
  ) {
    this.drops = new DropReporter(`for peer ${peerId}`, context.logger, REPEAT_LOG_INTERVAL_MS);
    this.writer = new FrameWriter(context.writerLimits, (frames, reason) => {
      context.stats.framesDropped += frames;
      this.drops.note(frames, reason);
    });
  }

  get isReady(): boolean {
    return this.state === "ready";
  }

  get queuedFrames(): number {
    return this.writer.queuedFrames;
  }

  /** Host of the advertised address: the name this peer's certificate must carry. */
  get advertisedHost(): string {
    return this.address.host;
  }

  get addressText(): string {
    return this.address.text;
  }

  /** Queues a frame; dials if idle. False when the frame could not be queued. */
  send(frame: Frame): boolean {
    if (this.state === "closed") return false;
    const bytes = encodeForSend(frame, this.context);
    if (typeof bytes === "string") {
      this.context.stats.framesDropped++;
      const line = this.sendFailureLog.note(`frame for peer ${this.peerId} not sent: ${bytes}`);
      if (line !== undefined) this.context.logger.warn(line);
      return false;
    }
    if (!this.writer.enqueue(bytes)) return false;
    if (this.state === "ready") this.scheduleFlush();
    else if (this.state === "idle") this.startDial();
    return true;
  }

  /** A new advertised address: drop the current connection (its server name may be wrong now). */
  setAddress(address: PeerAddress): void {
    if (address.text === this.address.text || this.state === "closed") return;
    this.address = address;
    this.failures = 0;
    this.downLog.reset();
    const wasActive = this.state === "ready" || this.state === "dialing" || this.state === "backoff";
    this.endDial();
    clearTimeout(this.retryTimer);
    this.state = "idle";
    if (wasActive && this.writer.queuedFrames > 0) this.startDial();
  }

  close(): void {
    if (this.state === "closed") return;
    this.endDial();
    clearTimeout(this.retryTimer);
    this.state = "closed";
    this.writer.clear("peer removed or transport closed");
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    // Frames queued in the same tick leave in one write.
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes what is queued now instead of at the end of the tick (the leader sends before its own fsync). */
  flush(): void {
    if (this.state !== "ready") return;
    const result = this.writer.flush();
    this.context.stats.framesSent += result.framesWritten;
    this.context.stats.bytesSent += result.bytesWritten;
    this.context.stats.partialWrites += result.partialWrites;
  }

  private startDial(): void {
    this.state = "dialing";
    this.dials++;
    if (this.dials > 1) this.context.stats.reconnects++;
    const dial: Dial = {
      socket: null,
      decoder: new FrameDecoder(MAX_HELLO_FRAME_BYTES),
      helloRest: helloFrame(this.context),
      timer: undefined,
      readyAtMs: 0,
      lastError: undefined,
      ended: false,
    };
    this.dial = dial;
    const timeoutMs = this.context.connectTimeoutMs;
    dial.timer = setTimeout(() => this.dialFailed(dial, `no Hello from the peer within ${timeoutMs} ms`), timeoutMs);
    void this.connect(dial);
  }

  private async connect(dial: Dial): Promise<void> {
    const { host, port } = this.address;
    let hostname: string;
    try {
      hostname = await this.context.resolveHost(host);
    } catch (error) {
      this.dialFailed(dial, `cannot resolve ${host}: ${errorText(error)}`);
      return;
    }
    if (dial.ended) return;
    const tls = this.context.tls === undefined ? undefined : dialerTlsOptions(this.context.tls, host);
    try {
      await Bun.connect<Dial>({ hostname, port, data: dial, ...(tls === undefined ? {} : { tls }), socket: this.handlers() });
    } catch (error) {
      // connectError usually reported it already; dialFailed ignores repeats.
      this.dialFailed(dial, errorText(error));
    }
  }

  private handlers(): SocketHandler<Dial> {
    const isCurrent = (socket: Socket<Dial>) => {
      if (socket.data === this.dial && !socket.data.ended) return true;
      socket.terminate();
      return false;
    };
    return {
      binaryType: "uint8array",
      open: (socket) => {
        if (!isCurrent(socket)) return;
        socket.data.socket = socket;
        // Plain TCP: speak now. TLS: wait for the handshake verdict.
        if (this.context.tls === undefined) this.writeHello(socket.data);
      },
      handshake: (socket, _success, authError) => {
        if (!isCurrent(socket)) return;
        const refusal = handshakeRefusal(socket, authError);
        if (refusal !== undefined) this.dialFailed(socket.data, `TLS: ${refusal}`);
        else this.writeHello(socket.data);
      },
      data: (socket, chunk) => {
        if (!isCurrent(socket)) return;
        this.onData(socket.data, chunk as Uint8Array);
      },
      drain: (socket) => {
        if (!isCurrent(socket)) return;
        if (socket.data.helloRest !== null) this.writeHello(socket.data);
        else this.flush();
      },
      error: (socket, error) => {
        if (socket.data !== undefined) socket.data.lastError = error.message;
      },
      connectError: (socket, error) => {
        if (socket.data !== undefined) this.dialFailed(socket.data, error.message);
      },
      close: (socket, error) => {
        const dial = socket.data;
        if (dial === undefined || dial.ended || dial !== this.dial) return;
        const reason = error?.message ?? dial.lastError;
        if (this.state === "ready") this.connectionLost(dial, reason ?? "closed by the peer");
        else this.dialFailed(dial, reason ?? "closed before the peer said Hello (refused our certificate or Hello?)");
      },
    };
  }

  private writeHello(dial: Dial): void {
    const socket = dial.socket;
    const rest = dial.helloRest;
    if (socket === null || rest === null) return;
    const written = socket.write(rest);
    if (written < 0) return; // closing: the close handler decides
    dial.helloRest = written < rest.length ? rest.subarray(written) : null;
  }

  private onData(dial: Dial, chunk: Uint8Array): void {
    this.context.stats.bytesReceived += chunk.length;
    const stop = receiveChunk(dial.decoder, chunk, (frame) => this.onFrame(dial, frame));
    if (stop !== undefined && !dial.ended) {
      this.context.stats.protocolErrors++;
      if (this.state === "ready") this.connectionLost(dial, stop);
      else this.dialFailed(dial, stop);
    }
  }

  private onFrame(dial: Dial, frame: WireFrame): string | undefined {
    if (dial.ended) return undefined;
    if (this.state !== "ready") {
      if (frame.case !== "hello") return `first frame is ${frame.case}, expected Hello`;
      const refusal = helloRefusal(frame.value, this.context, this.peerId);
      if (refusal !== undefined) return refusal;
      // Only from a peer we dialed, at the address we know it by (an
      // accepted connection could be anyone's): a joiner takes the cluster id
      // of the members it was told to join, then refuses every other.
      if (this.context.clusterId === "") this.context.learnClusterId(frame.value.clusterId, this.peerId);
      this.becomeReady(dial);
      return undefined;
    }
    if (frame.case === "hello") return "a second Hello on the same connection";
    this.context.stats.framesReceived++;
    this.context.deliver(this.peerId, frame, this.reply);
    return undefined;
  }

  private becomeReady(dial: Dial): void {
    clearTimeout(dial.timer);
    dial.decoder.maxFrameBytes = this.context.maxFrameBytes;
    dial.readyAtMs = performance.now();
    this.state = "ready";
    this.context.stats.connectionsOpened++;
    this.context.stats.outboundConnected++;
    const after = this.failures > 0 ? ` after ${this.failures} failed attempt(s)` : "";
    this.context.logger.info(`connected to peer ${this.peerId} at ${this.address.text}${after}`);
    this.downLog.reset();
    this.writer.attach(dial.socket!);
    this.flush();
  }

  private dialFailed(dial: Dial, reason: string): void {
    if (dial.ended || dial !== this.dial) return;
    this.endDial();
    this.failures++;
    this.context.stats.connectFailures++;
    const line = this.downLog.note(
      `cannot reach peer ${this.peerId} at ${this.address.text}: ${reason}; retrying with backoff ` +
        `(${this.writer.queuedFrames} frame(s) waiting)`,
    );
    if (line !== undefined) this.context.logger.warn(line);
    this.context.reportUnreachable(this.peerId);
    this.scheduleRetry();
  }

  private connectionLost(dial: Dial, reason: string): void {
    if (dial.ended || dial !== this.dial) return;
    const upMs = performance.now() - dial.readyAtMs;
    this.endDial();
    this.failures = upMs >= STABLE_CONNECTION_MS ? 1 : this.failures + 1;
    this.context.logger.warn(`lost connection to peer ${this.peerId} at ${this.address.text}: ${reason}`);
    this.context.reportUnreachable(this.peerId);
    this.scheduleRetry();
  }

  /** Ends the current attempt or connection (if any) without deciding what comes next. */
  private endDial(): void {
    const dial = this.dial;
    if (dial === null) return;
    dial.ended = true;
    this.dial = null;
    clearTimeout(dial.timer);
    if (this.state === "ready") this.context.stats.outboundConnected--;
    this.writer.detach();
    dial.socket?.terminate();
  }

  private scheduleRetry(): void {
    if (this.state === "closed") return;
    this.state = "backoff";
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.state !== "backoff") return;
      // Lazy: redial only if something is waiting; otherwise the next send dials.
      if (this.writer.queuedFrames > 0) this.startDial();
      else this.state = "idle";
    }, backoffDelayMs(this.failures, this.context.backoff));
  }
}
