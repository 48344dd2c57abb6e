// systemd readiness notification (sd_notify): when $NOTIFY_SOCKET is set,
// send "READY=1" / "STOPPING=1" as ONE datagram to that unix socket. Without
// $NOTIFY_SOCKET (not under a Type=notify unit) every call is a no-op.
//
// Why bun:ffi: the notify socket is AF_UNIX + SOCK_DGRAM, and Bun has no API
// for unix datagrams (Bun.connect/listen unix sockets are SOCK_STREAM, which
// the notify socket refuses; Bun.udpSocket and node:dgram are UDP only). Calling
// libc's socket()/sendto() through bun:ffi works inside a `bun build --compile`
// binary on linux-x64 and linux-arm64 (tested), needs no extra package and no
// child process. The alternative, spawning `systemd-notify --ready`, would need
// NotifyAccess=all and races the helper's exit against systemd attributing the
// message to the unit.
//
// A notification must never take the server down: failures are returned as a
// result (sdNotify) and otherwise swallowed (notifyReady / notifyStopping).
import { dlopen, FFIType, ptr, read, type Pointer } from "bun:ffi";

/** sun_path in struct sockaddr_un is 108 bytes on Linux. */
const SUN_PATH_BYTES = 108;
/** sa_family_t (2 bytes) + sun_path. */
const SOCKADDR_UN_BYTES = 2 + SUN_PATH_BYTES;
/** Linux constants, the same on x86_64 and aarch64. */
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** systemd reads at most this much per message; ours are a few bytes. */
const NOTIFY_MESSAGE_BYTES_MAX = 4096;

export type SdNotifyResult =
  | { sent: true }
  | { sent: false; reason: "no-socket" }
  | { sent: false; reason: "failed"; error: string };

/** Sends `state` (e.g. "READY=1", newline-separated assignments) to $NOTIFY_SOCKET. Never throws. */
export function sdNotify(state: string, env: Record<string, string | undefined> = process.env): SdNotifyResult {
  const socketPath = env.NOTIFY_SOCKET;
  if (socketPath === undefined || socketPath === "") return { sent: false, reason: "no-socket" };
  try {
    sendDatagram(socketPath, new TextEncoder().encode(state));
    return { sent: true };
  } catch (error) {
    return { sent: false, reason: "failed", error: error instanceof Error ? error.message : String(error) };
  }
}

/** Tells systemd the service is up (Type=notify units wait for this before "started"). */
export function notifyReady(): void {
  sdNotify("READY=1");
}

/** Tells systemd a graceful stop has begun (so it shows "deactivating" and does not treat slowness as a hang). */
export function notifyStopping(): void {
  sdNotify("STOPPING=1");
}

/**
 * struct sockaddr_un for a path ("/run/systemd/notify") or an abstract name
 * ("@name": a leading NUL byte, and the length counts only the name's bytes).
 */
export function encodeSockaddrUn(socketPath: string): { address: Uint8Array; length: number } {
  if (!socketPath.startsWith("/") && !socketPath.startsWith("@")) {
    throw new Error(`NOTIFY_SOCKET "${socketPath}" is neither an absolute path nor an abstract name (@...)`);
  }
  const abstract = socketPath.startsWith("@");
  const name = new TextEncoder().encode(abstract ? socketPath.slice(1) : socketPath);
  // A path needs room for its terminating NUL; an abstract name has none but starts with one.
  if (name.length + 1 > SUN_PATH_BYTES) {
    throw new Error(`NOTIFY_SOCKET "${socketPath}" is ${name.length} bytes; a unix socket address holds at most ${SUN_PATH_BYTES - 1}`);
  }
  const address = new Uint8Array(SOCKADDR_UN_BYTES);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(name, abstract ? 3 : 2);
  // Path: family + name + NUL. Abstract: family + NUL + name (no terminator).
  return { address, length: 2 + 1 + name.length };
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buffer: Pointer, length: number, flags: number, address: Pointer, addressLength: number): number | bigint;
  close(fd: number): number;
  __errno_location(): Pointer | null;
}

let libc: Libc | undefined;

/** Opened on first use only: a process outside systemd never loads the FFI trampolines. */
function openLibc(): Libc {
  if (libc) return libc;
  const library = dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  });
  libc = library.symbols as unknown as Libc;
  return libc;
}

/** The errnos a notify send meets in practice, named so the log line is actionable. */
const ERRNO_NAMES: Record<number, string> = {
  2: "ENOENT: no socket at that path",
  13: "EACCES: permission denied",
  111: "ECONNREFUSED: nobody is bound to that socket",
  11: "EAGAIN: the receiver's queue is full",
};

function errno(c: Libc): string {
  const location = c.__errno_location();
  if (location === null) return "errno unknown";
  const code = read.i32(location, 0);
  return `errno ${code}${ERRNO_NAMES[code] ? ` (${ERRNO_NAMES[code]})` : ""}`;
}

function sendDatagram(socketPath: string, message: Uint8Array): void {
  if (message.length === 0 || message.length > NOTIFY_MESSAGE_BYTES_MAX) {
    throw new Error(`a notify message must be 1..${NOTIFY_MESSAGE_BYTES_MAX} bytes, not ${message.length}`);
  }
  const { address, length } = encodeSockaddrUn(socketPath);
  const c = openLibc();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket(AF_UNIX, SOCK_DGRAM) failed: ${errno(c)}`);
  try {
    const sent = Number(c.sendto(fd, ptr(message), message.length, MSG_NOSIGNAL, ptr(address), length));
    if (sent < 0) throw new Error(`sendto ${socketPath} failed: ${errno(c)}`);
    // A datagram goes whole or not at all; anything else is a broken libc binding.
    if (sent !== message.length) throw new Error(`sendto ${socketPath} sent ${sent} of ${message.length} bytes`);
  } finally {
    c.close(fd);
  }
}
