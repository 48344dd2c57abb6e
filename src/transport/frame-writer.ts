// The outgoing side of one connection: a bounded queue of encoded frames,
// batching (everything queued when a flush runs goes out in one write, up to
// MAX_WRITE_BATCH_BYTES) and partial writes (the unwritten rest is kept and
// resumed on `drain`). When the queue is full the OLDEST waiting frames are
// dropped and counted: raft retransmits, and fresher messages matter more.

/** Where bytes go: a Bun socket. Returns bytes accepted, or -1 when closed. */
export interface ByteSink {
  write(data: Uint8Array): number;
}

export interface FrameWriterLimits {
  maxQueuedFrames: number;
  maxQueuedBytes: number;
  maxWriteBatchBytes: number;
}

export interface WriteResult {
  framesWritten: number;
  bytesWritten: number;
  /** Writes the socket took only part of (backpressure): the rest waits for drain. */
  partialWrites: number;
}

export class FrameWriter {
  /** Waiting frames, oldest first, from `head`. */
  private queue: Uint8Array[] = [];
  private head = 0;
  private queuedBytes_ = 0;
  /** A batch the socket accepted only part of: the rest, and how many frames it completes. */
  private inFlight: Uint8Array | null = null;
  private inFlightFrames = 0;
  private sink: ByteSink | null = null;

  constructor(
    private readonly limits: FrameWriterLimits,
    /** Called with the number of frames dropped (queue overflow, lost batch, clear). */
    private readonly onDrop: (frames: number, reason: string) => void,
  ) {}

  get queuedFrames(): number {
    return this.queue.length - this.head;
  }

  get queuedBytes(): number {
    return this.queuedBytes_;
  }

  get hasPendingWrite(): boolean {
    return this.inFlight !== null || this.queuedFrames > 0;
  }

  /** Queues a complete frame (header included). False when it could not be queued at all. */
  enqueue(frame: Uint8Array): boolean {
    if (frame.length > this.limits.maxQueuedBytes) {
      this.onDrop(1, `frame of ${frame.length} bytes exceeds the queue limit of ${this.limits.maxQueuedBytes} bytes`);
      return false;
    }
    let dropped = 0;
    while (
      this.queuedFrames > 0 &&
      (this.queuedFrames >= this.limits.maxQueuedFrames || this.queuedBytes_ + frame.length > this.limits.maxQueuedBytes)
    ) {
      this.queuedBytes_ -= this.queue[this.head]!.length;
      this.queue[this.head++] = EMPTY;
      dropped++;
    }
    if (dropped > 0) {
      this.compact();
      this.onDrop(dropped, "send queue full");
    }
    this.queue.push(frame);
    this.queuedBytes_ += frame.length;
    return true;
  }

  /** Connects the writer to a socket; queued frames wait for flush(). */
  attach(sink: ByteSink): void {
    this.sink = sink;
  }

  /**
   * Disconnects from the socket. A batch that was partly written is lost (the
   * other side discards the partial frame); frames still queued are kept.
   */
  detach(): void {
    this.sink = null;
    if (this.inFlight !== null) {
      this.onDrop(this.inFlightFrames, "connection closed mid-write");
      this.inFlight = null;
      this.inFlightFrames = 0;
    }
  }

  /** Drops everything queued (peer removed, connection gone for good). */
  clear(reason: string): void {
    this.detach();
    const frames = this.queuedFrames;
    this.queue = [];
    this.head = 0;
    this.queuedBytes_ = 0;
    if (frames > 0) this.onDrop(frames, reason);
  }

  /** Writes as much as the socket takes now. Call again on drain. */
  flush(): WriteResult {
    const result: WriteResult = { framesWritten: 0, bytesWritten: 0, partialWrites: 0 };
    const sink = this.sink;
    if (sink === null) return result;
    for (;;) {
      if (this.inFlight === null) {
        if (this.queuedFrames === 0) return result;
        this.takeBatch();
      }
      const batch = this.inFlight!;
      const written = sink.write(batch);
      if (written < 0) return result; // closed: the close handler detaches us
      result.bytesWritten += written;
      if (written < batch.length) {
        // Partial write: keep the rest (a view, no copy) for the drain event.
        this.inFlight = batch.subarray(written);
        result.partialWrites++;
        return result;
      }
      result.framesWritten += this.inFlightFrames;
      this.inFlight = null;
      this.inFlightFrames = 0;
    }
  }

  /** Moves the oldest frames into inFlight: one frame as is, several copied into one buffer. */
  private takeBatch(): void {
    const first = this.queue[this.head]!;
    let count = 1;
    let bytes = first.length;
    while (this.head + count < this.queue.length) {
      const next = this.queue[this.head + count]!;
      if (bytes + next.length > this.limits.maxWriteBatchBytes) break;
      bytes += next.length;
      count++;
    }
    if (count === 1) {
      this.inFlight = first;
    } else {
      const batch = Buffer.allocUnsafe(bytes);
      let offset = 0;
      for (let i = 0; i < count; i++) {
        const frame = this.queue[this.head + i]!;
        batch.set(frame, offset);
        offset += frame.length;
      }
      this.inFlight = batch;
    }
    for (let i = 0; i < count; i++) this.queue[this.head + i] = EMPTY;
    this.head += count;
    this.queuedBytes_ -= bytes;
    this.inFlightFrames = count;
    this.compact();
  }

  /** Reclaims the consumed front of the queue array now and then (amortized O(1)). */
  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY = new Uint8Array(0);
