// `dkv certs init` and `issue` on the disk model of test/power-cut: after a
// power cut right after they return, the CA and the certificates are there,
// whole (each file is fsynced, renamed into place, and its directory - and a
// directory the command created - fsynced).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY } from "../e2e/cluster.ts";
import { buildShim, rebuildAfterCut, shimEnv, shimErrors } from "../power-cut/power-cut.ts";

let work: string;
let shim: string;
beforeAll(() => {
  work = realpathSync(mkdtempSync(join(tmpdir(), "dkv-certs-cut-")));
  shim = buildShim(work);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

test("a power cut right after certs init and issue keeps every file, whole, in the directories they created", () => {
  const root = join(work, "root");
  const shadow = join(work, "shadow");
  const env = { ...process.env, NO_COLOR: "1", ...shimEnv(shim, root, shadow) };
  const dir = join(root, "etc", "dkv", "pki");
  for (const args of [["certs", "init", "--dir", dir], ["certs", "issue", "n0", "--dir", dir, "--ip", "127.0.0.1"]]) {
    const run = Bun.spawnSync([BINARY, ...args], { env, stderr: "pipe" });
    expect({ args, code: run.exitCode, stderr: run.stderr.toString() }).toEqual({ args, code: 0, stderr: "" });
  }
  const before = new Map(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), "utf8")]));
  expect([...before.keys()].sort()).toEqual(["ca.crt", "ca.key", "n0.crt", "n0.key"]);

  // The root is taken to exist; all below it must have been synced.
  const cut = rebuildAfterCut(root, shadow);
  expect(shimErrors(shadow)).toBe("");
  expect(cut.lostNames).toEqual([]);
  expect(cut.changedFiles).toEqual([]);
  const after = new Map(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), "utf8")]));
  expect(after).toEqual(before);
});
