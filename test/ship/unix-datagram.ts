// A unix datagram socket that receives what sd_notify sends, for tests: the
// stand-in for systemd's notify socket. Written against libc directly (not
// through src/server/sd-notify.ts) so the sender is checked by independent code.
import { dlopen, FFIType, ptr } from "bun:ffi";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
const RECEIVE_BUFFER_BYTES = 4096;
const POLL_INTERVAL_MS = 20;

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
}).symbols;

export interface DatagramReceiver {
  /** The next datagram as text, or null if none arrives within timeoutMs. */
  receive(timeoutMs: number): Promise<string | null>;
  close(): void;
}

/** Binds a SOCK_DGRAM socket at `path` (a filesystem path, or "@name" for the abstract namespace). */
export function bindDatagramReceiver(path: string): DatagramReceiver {
  const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error("test receiver: socket() failed");
  const address = new Uint8Array(110);
  address[0] = AF_UNIX; // little-endian sa_family_t
  const abstract = path.startsWith("@");
  const name = new TextEncoder().encode(abstract ? path.slice(1) : path);
  address.set(name, abstract ? 3 : 2);
  if (libc.bind(fd, ptr(address), 2 + 1 + name.length) !== 0) {
    libc.close(fd);
    throw new Error(`test receiver: bind ${path} failed`);
  }
  const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
  return {
    async receive(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const received = Number(libc.recv(fd, ptr(buffer), buffer.length, MSG_DONTWAIT));
        if (received >= 0) return new TextDecoder().decode(buffer.subarray(0, received));
        if (Date.now() >= deadline) return null;
        await Bun.sleep(POLL_INTERVAL_MS);
      }
    },
    close() {
      libc.close(fd);
    },
  };
}
