// --auth-file read again while the member runs: a changed file that parses
// replaces the users at once (a password remembered before is checked
// again); a broken one is logged once and the users loaded before stay.
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { Authenticator, parseAuthFile } from "../../src/api/auth.ts";
import { AuthFileReloader } from "../../src/cli/auth-reload.ts";
import { basicAuthorization } from "../../src/client/transport.ts";
import { createLogger } from "../../src/server/logger.ts";

const dir = mkdtempSync(join(tmpdir(), "dkv-auth-reload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hash = (password: string) => Bun.password.hash(password, { algorithm: "bcrypt", cost: 4 });
const codeOf = (promise: Promise<unknown>) => promise.then(() => "ok", (error: unknown) => (error instanceof ConnectError ? Code[error.code] : String(error)));

test("a changed file replaces the users; a broken or missing one keeps them and is logged once", async () => {
  const path = join(dir, "users.json");
  const first = JSON.stringify({ users: [{ name: "old", password_hash: await hash("o"), role: "admin" }] });
  writeFileSync(path, first);
  const auth = new Authenticator(parseAuthFile(first, path));
  const lines: string[] = [];
  const reloader = new AuthFileReloader(path, auth, first, createLogger("m", "info", (line) => lines.push(line)));
  const old = basicAuthorization("old", "o");
  const fresh = basicAuthorization("new", "n");
  expect(await codeOf(auth.authorize(old, "admin", "P"))).toBe("ok");
  expect(reloader.check()).toBe(false);

  writeFileSync(path, JSON.stringify({ users: [{ name: "new", password_hash: await hash("n"), role: "read" }] }));
  expect(reloader.check()).toBe(true);
  expect(lines.some((line) => line.includes("auth file reloaded"))).toBe(true);
  // "old" was remembered as checked; it is gone from the file, so it is refused now.
  expect(await codeOf(auth.authorize(old, "admin", "P"))).toBe("Unauthenticated");
  expect(await codeOf(auth.authorize(fresh, "read", "P"))).toBe("ok");
  expect(await codeOf(auth.authorize(fresh, "write", "P"))).toBe("PermissionDenied");

  lines.length = 0;
  writeFileSync(path, '{"users": [');
  expect(reloader.check()).toBe(false);
  expect(reloader.check()).toBe(false);
  expect(lines.filter((line) => line.includes("not reloaded"))).toHaveLength(1);
  unlinkSync(path);
  expect(reloader.check()).toBe(false);
  expect(lines.filter((line) => line.includes("not reloaded"))).toHaveLength(2);
  expect(await codeOf(auth.authorize(fresh, "read", "P"))).toBe("ok");
});
