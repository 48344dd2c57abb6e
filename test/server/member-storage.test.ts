// openMemberStorage on a data dir that was started as a member of a new
// cluster but never got state (it was still waiting to be added): started
// again with the same flags it waits again; with other flags it must not
// bootstrap a cluster of its own under the first cluster's id.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildConfig } from "../../src/server/config.ts";
import { createLogger } from "../../src/server/logger.ts";
import { newClusterId, openMemberStorage } from "../../src/server/member-storage.ts";
import { StorageError } from "../../src/storage/index.ts";

const root = mkdtempSync(join(tmpdir(), "dkv-member-storage-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const log = createLogger("n1", "error");

function config(dataDir: string, flags: Record<string, string>) {
  return buildConfig({ name: "n1", "data-dir": dataDir, "listen-peer-address": "127.0.0.1:3101", "listen-client-address": "127.0.0.1:4101", ...flags });
}

describe("a data dir that never got state", () => {
  const threeMembers = { "initial-cluster": "n0=127.0.0.1:3100,n1=127.0.0.1:3101,n2=127.0.0.1:3102" };

  test("started again with the flags of its first start, it waits to be added again", () => {
    const dir = join(root, "same");
    openMemberStorage(config(dir, threeMembers), log).close();
    const store = openMemberStorage(config(dir, threeMembers), log);
    expect(store.identity().clusterId).toBe(newClusterId(config(dir, threeMembers)));
    expect(store.log.lastIndex()).toBe(0);
    store.close();
  });

  test("started with other flags (here: none, which would make it bootstrap alone), it is refused in one line", () => {
    const dir = join(root, "other");
    openMemberStorage(config(dir, threeMembers), log).close();
    let error: unknown;
    try {
      openMemberStorage(config(dir, {}), log).close();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe("identity_mismatch");
    expect((error as StorageError).message).toContain("was first started as a member of cluster");
    expect((error as StorageError).message).not.toContain("\n");
    // Nothing was bootstrapped: with the first flags it still only waits.
    const store = openMemberStorage(config(dir, threeMembers), log);
    expect(store.log.lastIndex()).toBe(0);
    store.close();
  });
});
