// sd_notify from src/server/sd-notify.ts: READY=1 / STOPPING=1 reach a unix
// datagram socket named by $NOTIFY_SOCKET (path or abstract), from this test
// process and from inside compiled binaries (linux-x64, and linux-arm64 under
// qemu) — the place it has to work, since systemd runs the compiled dkv.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findTarget, resolveRuntime } from "../../release/bun-runtime.ts";
import { encodeSockaddrUn, notifyReady, notifyStopping, sdNotify } from "../../src/server/sd-notify.ts";
import { aarch64Runner } from "./qemu.ts";
import { bindDatagramReceiver } from "./unix-datagram.ts";

const RECEIVE_TIMEOUT_MS = 15_000;
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "dkv-sd-notify-"));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function withNotifySocket<T>(value: string | undefined, body: () => T): T {
  const saved = process.env.NOTIFY_SOCKET;
  if (value === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = value;
  try {
    return body();
  } finally {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET;
    else process.env.NOTIFY_SOCKET = saved;
  }
}

describe("sd_notify in the test process", () => {
  test("READY=1 and STOPPING=1 arrive as one datagram each on a path socket", async () => {
    const path = join(scratch, "notify.sock");
    const receiver = bindDatagramReceiver(path);
    try {
      withNotifySocket(path, () => {
        notifyReady();
        notifyStopping();
      });
      expect(await receiver.receive(RECEIVE_TIMEOUT_MS)).toBe("READY=1");
      expect(await receiver.receive(RECEIVE_TIMEOUT_MS)).toBe("STOPPING=1");
    } finally {
      receiver.close();
    }
  });

  test("an abstract socket (@name) is addressed with a leading NUL byte", async () => {
    const name = `@dkv-test-${process.pid}-${Date.now()}`;
    const receiver = bindDatagramReceiver(name);
    try {
      expect(sdNotify("READY=1\nSTATUS=serving", { NOTIFY_SOCKET: name })).toEqual({ sent: true });
      expect(await receiver.receive(RECEIVE_TIMEOUT_MS)).toBe("READY=1\nSTATUS=serving");
    } finally {
      receiver.close();
    }
  });

  test("without NOTIFY_SOCKET nothing is sent and nothing fails", () => {
    expect(sdNotify("READY=1", {})).toEqual({ sent: false, reason: "no-socket" });
    withNotifySocket(undefined, () => {
      expect(() => notifyReady()).not.toThrow();
      expect(() => notifyStopping()).not.toThrow();
    });
  });

  test("a socket nobody listens on is a failure result naming the socket, never an exception", () => {
    const missing = join(scratch, "nobody-here.sock");
    const result = sdNotify("READY=1", { NOTIFY_SOCKET: missing });
    expect(result.sent).toBe(false);
    if (result.sent || result.reason !== "failed") throw new Error(`expected a failure, got ${JSON.stringify(result)}`);
    expect(result.error).toContain(missing);
    expect(() => withNotifySocket(missing, () => notifyReady())).not.toThrow();
  });

  test("a relative or over-long NOTIFY_SOCKET is refused with the reason", () => {
    expect(sdNotify("READY=1", { NOTIFY_SOCKET: "relative.sock" })).toMatchObject({ sent: false, reason: "failed" });
    expect(() => encodeSockaddrUn("/" + "x".repeat(200))).toThrow(/at most 107/);
    // Path: family(2) + bytes + NUL; abstract: family(2) + NUL + bytes.
    expect(encodeSockaddrUn("/run/n").length).toBe(2 + 6 + 1);
    const abstract = encodeSockaddrUn("@n");
    expect(abstract.length).toBe(2 + 1 + 1);
    expect([...abstract.address.subarray(0, 4)]).toEqual([1, 0, 0, "n".charCodeAt(0)]);
  });
});

describe("sd_notify inside a compiled binary", () => {
  // A tiny entry point compiled like dkv itself: proves bun:ffi and libc work
  // in `bun build --compile` output for both release targets.
  function compileProbe(arch: "amd64" | "arm64"): string {
    const entry = join(scratch, "probe.ts");
    const module = join(import.meta.dir, "../../src/server/sd-notify.ts");
    writeFileSync(entry, `import { notifyReady, notifyStopping } from ${JSON.stringify(module)};\nnotifyReady();\nnotifyStopping();\n`);
    const target = findTarget("linux", arch);
    const outfile = join(scratch, `probe-${arch}`);
    const build = Bun.spawnSync(
      [process.execPath, "build", "--compile", `--target=${target.bunTarget}`, `--compile-executable-path=${resolveRuntime(target)}`, entry, "--outfile", outfile],
      { stderr: "pipe", stdout: "pipe" },
    );
    if (build.exitCode !== 0) throw new Error(`compiling the probe for ${arch} failed: ${build.stderr.toString()}`);
    return outfile;
  }

  async function expectNotified(command: string[], socketName: string): Promise<void> {
    const receiver = bindDatagramReceiver(socketName);
    try {
      const child = Bun.spawn(command, { env: { ...process.env, NOTIFY_SOCKET: socketName }, stderr: "pipe" });
      expect(await receiver.receive(RECEIVE_TIMEOUT_MS)).toBe("READY=1");
      expect(await receiver.receive(RECEIVE_TIMEOUT_MS)).toBe("STOPPING=1");
      expect(await child.exited).toBe(0);
    } finally {
      receiver.close();
    }
  }

  test("linux-x64 binary notifies a path socket", async () => {
    await expectNotified([compileProbe("amd64")], join(scratch, "x64.sock"));
  }, 60_000);

  test("linux-arm64 binary (under qemu) notifies an abstract socket", async () => {
    const runner = aarch64Runner();
    await expectNotified([...runner, compileProbe("arm64")], `@dkv-test-arm64-${process.pid}`);
  }, 60_000);
});
