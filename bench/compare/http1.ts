// A minimal HTTP/1.1 keep-alive client on raw sockets (Bun.connect), one
// request in flight per connection. Node's http.Agent costs too much CPU on a
// 2-core box to measure a server that shares it (BENCH-NOTES); this one only
// writes pre-built request bytes and finds the end of each response.
import type { Socket } from "bun";
import { contentLength, HEADER_END, isChunked, MAX_HEADER_BYTES } from "./http1-head";

export type H1Done = (error: Error | undefined, status: number, body: Uint8Array) => void;

const EMPTY = new Uint8Array(0);

/** Builds the full bytes of a POST (request line, headers, body) once, before the run. */
export function buildRequest(path: string, contentType: string, body: Uint8Array, extraHeaders: Record<string, string> = {}): Uint8Array {
  let head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n`;
  for (const [name, value] of Object.entries(extraHeaders)) head += `${name}: ${value}\r\n`;
  head += "\r\n";
  const headBytes = Buffer.from(head, "latin1");
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes, 0);
  out.set(body, headBytes.length);
  return out;
}

export class H1Connection {
  private socket: Socket<H1Connection> | undefined;
  private pending: Buffer | undefined;
  private unwritten: Uint8Array | undefined;
  private done: H1Done | undefined;
  closed = false;

  private constructor(readonly host: string, readonly port: number) {}

  static async open(host: string, port: number): Promise<H1Connection> {
    const conn = new H1Connection(host, port);
    conn.socket = await Bun.connect<H1Connection>({
      hostname: host,
      port,
      data: conn,
      socket: {
        data: (socket, chunk) => socket.data.onData(chunk),
        drain: (socket) => socket.data.onDrain(),
        close: (socket) => socket.data.onClose(new Error("connection closed by the server")),
        error: (socket, error) => socket.data.onClose(error),
        connectError: (socket, error) => socket.data.onClose(error),
      },
    });
    conn.socket.setNoDelay(true);
    return conn;
  }

  get busy(): boolean {
    return this.done !== undefined;
  }

  /** Sends one request; `done` runs once, with the status and body or an error. */
  send(request: Uint8Array, done: H1Done): void {
    if (this.closed || !this.socket) return done(new Error("connection is closed"), 0, EMPTY);
    if (this.done) return done(new Error("a request is already in flight on this connection"), 0, EMPTY);
    this.done = done;
    const written = this.socket.write(request);
    // A partial write is possible even on loopback (BUN-NOTES): the rest goes out on drain.
    if (written < request.length) this.unwritten = request.subarray(Math.max(0, written));
  }

  close(): void {
    this.closed = true;
    this.socket?.end();
  }

  private onDrain(): void {
    if (!this.unwritten || !this.socket) return;
    const rest = this.unwritten;
    const written = this.socket.write(rest);
    this.unwritten = written < rest.length ? rest.subarray(Math.max(0, written)) : undefined;
  }

  private onClose(error: Error): void {
    this.closed = true;
    this.finish(error, 0, EMPTY);
  }

  private finish(error: Error | undefined, status: number, body: Uint8Array): void {
    const done = this.done;
    this.done = undefined;
    this.pending = undefined;
    done?.(error, status, body);
  }

  private onData(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const headerEnd = buf.indexOf(HEADER_END);
    if (headerEnd < 0) {
      if (buf.length > MAX_HEADER_BYTES) return this.fail("response header too large");
      this.pending = buf;
      return;
    }
    // "HTTP/1.1 200 OK": the status code is always at bytes 9-11.
    const status = (buf[9]! - 48) * 100 + (buf[10]! - 48) * 10 + (buf[11]! - 48);
    const bodyStart = headerEnd + 4;
    const length = contentLength(buf, headerEnd);
    if (length !== undefined) {
      if (buf.length < bodyStart + length) {
        this.pending = buf;
        return;
      }
      return this.finish(undefined, status, buf.subarray(bodyStart, bodyStart + length));
    }
    if (isChunked(buf, headerEnd)) {
      const body = decodeChunked(buf, bodyStart);
      if (body === undefined) {
        this.pending = buf;
        return;
      }
      return this.finish(undefined, status, body);
    }
    // Neither length nor chunks: the body runs to the end of the connection, which a keep-alive client cannot use.
    this.fail(`response without Content-Length or chunked encoding (status ${status})`);
  }

  private fail(message: string): void {
    this.finish(new Error(message), 0, EMPTY);
    this.close();
  }
}

/** The body of a complete chunked message starting at `start`, or undefined while more bytes are needed. */
function decodeChunked(buf: Buffer, start: number): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let i = start;
  for (;;) {
    const lineEnd = buf.indexOf("\r\n", i);
    if (lineEnd < 0) return undefined;
    const size = parseInt(buf.toString("latin1", i, lineEnd), 16);
    if (Number.isNaN(size)) return EMPTY;
    if (size === 0) {
      // No trailers are expected; the message ends with an empty line.
      return buf.length >= lineEnd + 4 ? Buffer.concat(parts) : undefined;
    }
    if (buf.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
    i = lineEnd + 2 + size + 2;
  }
}
