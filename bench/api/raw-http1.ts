// For layers.ts's "raw" mode only: the bare layer's answer (read the body,
// answer two fixed bytes) written by hand on Bun.listen instead of Bun.serve,
// so the benchmark can say what Bun.serve's own per-request work costs. dkv
// serves its client API with Bun.serve (a fixed choice of the project); this
// is a measuring stick, not a server: it reads Content-Length bodies only and
// closes a connection that sends anything else.
import type { Socket } from "bun";
import { contentLength, HEADER_END, MAX_HEADER_BYTES } from "../compare/http1-head";

const ANSWER = Buffer.from("HTTP/1.1 200 OK\r\nContent-Type: application/proto\r\nContent-Length: 2\r\n\r\n\x08\x01", "latin1");

interface Connection {
  pending: Buffer | undefined;
  unwritten: Buffer | undefined;
}

export function listenRaw(): { port: number; stop: () => Promise<void> } {
  const listener = Bun.listen<Connection>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { pending: undefined, unwritten: undefined };
        socket.setNoDelay(true);
      },
      data(socket, chunk) {
        onData(socket, chunk);
      },
      drain(socket) {
        const rest = socket.data.unwritten;
        socket.data.unwritten = undefined;
        if (rest !== undefined) write(socket, rest);
      },
    },
  });
  return { port: listener.port, stop: async () => listener.stop(true) };
}

function onData(socket: Socket<Connection>, chunk: Buffer): void {
  let buf = socket.data.pending === undefined ? chunk : Buffer.concat([socket.data.pending, chunk]);
  socket.data.pending = undefined;
  // Pipelined requests are answered in order; an incomplete one waits for more bytes.
  while (buf.length > 0) {
    const headerEnd = buf.indexOf(HEADER_END);
    if (headerEnd < 0) {
      if (buf.length > MAX_HEADER_BYTES) return void socket.end();
      break;
    }
    const length = contentLength(buf, headerEnd);
    if (length === undefined) return void socket.end();
    const total = headerEnd + 4 + length;
    if (buf.length < total) break;
    write(socket, ANSWER);
    buf = buf.subarray(total);
  }
  if (buf.length > 0) socket.data.pending = buf;
}

function write(socket: Socket<Connection>, bytes: Buffer): void {
  if (socket.data.unwritten !== undefined) {
    socket.data.unwritten = Buffer.concat([socket.data.unwritten, bytes]);
    return;
  }
  const written = socket.write(bytes);
  // Short writes happen even on loopback (BUN-NOTES): the rest goes on drain.
  if (written < bytes.length) socket.data.unwritten = bytes.subarray(Math.max(0, written));
}
