// Running linux-arm64 binaries on this x86_64 machine: qemu-user-static with
// the aarch64 glibc from libc6-arm64-cross (a compiled Bun binary links
// libc, libm, libdl, libpthread dynamically). Both are Debian packages that
// .ci/run installs; a missing one fails the test with its package name
// instead of silently checking less.
import { existsSync } from "node:fs";

const QEMU = "/usr/bin/qemu-aarch64-static";
const AARCH64_SYSROOT = "/usr/aarch64-linux-gnu";

export function aarch64Runner(): string[] {
  if (!existsSync(QEMU)) throw new Error(`${QEMU} is missing: apt-get install qemu-user-static`);
  if (!existsSync(`${AARCH64_SYSROOT}/lib/ld-linux-aarch64.so.1`)) {
    throw new Error(`${AARCH64_SYSROOT} has no aarch64 glibc: apt-get install libc6-arm64-cross`);
  }
  return [QEMU, "-L", AARCH64_SYSROOT];
}
