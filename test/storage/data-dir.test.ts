import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA_VERSION, StorageError, openStorage } from "../../src/storage";
import { cleanUpAfterEachTest, tempDir, track } from "./helpers";

cleanUpAfterEachTest();

function refusal(fn: () => unknown): StorageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    const storageError = error as StorageError;
    expect(storageError.message).not.toContain("\n");
    return storageError;
  }
  throw new Error("expected the data dir to be refused, but it opened");
}

describe("data dir", () => {
  test("a new data dir is created with its layout; reopening finds the same identity", () => {
    const dir = join(tempDir(), "nested", "node1");
    const storage = openStorage(dir, { clusterId: "cluster-a", memberId: "n1" });
    expect(readdirSync(dir).sort()).toEqual(["LOCK", "LOCK-journal", "LOCK.owner", "dkv.db", "dkv.db-wal", "snap"]);
    expect(readFileSync(join(dir, "LOCK.owner"), "utf8")).toBe(`pid ${process.pid}\n`);
    storage.close();
    // Really closed (no zombie connection): the WAL was checkpointed and removed.
    expect(readdirSync(dir).sort()).toEqual(["LOCK", "LOCK.owner", "dkv.db", "snap"]);
    const reopened = track(openStorage(dir));
    expect(reopened.identity()).toEqual({ clusterId: "cluster-a", memberId: "n1" });
  });

  test("a path that is a file is refused", () => {
    const file = join(tempDir(), "plain-file");
    writeFileSync(file, "hello");
    const error = refusal(() => openStorage(file));
    expect(error.code).toBe("not_a_directory");
    expect(error.message).toContain(file);
  });

  test("a directory with other programs' files is refused and gets no lock file", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "notes.txt"), "mine");
    const error = refusal(() => openStorage(dir));
    expect(error.code).toBe("not_dkv");
    expect(error.message).toContain(dir);
    expect(error.message).toContain("notes.txt");
    expect(readdirSync(dir)).toEqual(["notes.txt"]);
  });

  test("a dkv.db that is not a dkv database is refused and left untouched", () => {
    for (const [name, content] of [
      ["garbage", new TextEncoder().encode("this is not a database at all, just some text long enough to look like a header ".repeat(3))],
      ["empty", new Uint8Array(0)],
    ] as const) {
      const dir = tempDir();
      writeFileSync(join(dir, "dkv.db"), content);
      const error = refusal(() => openStorage(dir));
      expect(error.code).toBe("not_dkv");
      expect(error.message).toContain(join(dir, "dkv.db"));
      expect(new Uint8Array(readFileSync(join(dir, "dkv.db")))).toEqual(new Uint8Array(content));
      expect(readdirSync(dir)).toEqual(["dkv.db"]);
      expect(name.length).toBeGreaterThan(0);
    }
  });

  test("another program's SQLite database is refused and left untouched", () => {
    const dir = tempDir();
    const path = join(dir, "dkv.db");
    const other = new Database(path, { create: true });
    other.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)");
    other.exec("INSERT INTO customers (name) VALUES ('ada')");
    other.close();
    const before = readFileSync(path);
    const error = refusal(() => openStorage(dir));
    expect(error.message).toMatch(/not a dkv database \(an SQLite database of another program\)/);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  test("a database from a newer schema version is refused, naming both versions", () => {
    const dir = tempDir();
    openStorage(dir).close();
    const raw = new Database(join(dir, "dkv.db"));
    raw.exec(`UPDATE meta SET value = '${SCHEMA_VERSION + 1}' WHERE key = 'schema_version'`);
    raw.close();
    const error = refusal(() => openStorage(dir));
    expect(error.code).toBe("newer_schema");
    expect(error.message).toContain(join(dir, "dkv.db"));
    expect(error.message).toContain(`schema ${SCHEMA_VERSION + 1}`);
    expect(error.message).toContain(`up to ${SCHEMA_VERSION}`);
    // Refusing released the lock; fixing the version makes it usable again.
    const fix = new Database(join(dir, "dkv.db"));
    fix.exec(`UPDATE meta SET value = '${SCHEMA_VERSION}' WHERE key = 'schema_version'`);
    fix.close();
    track(openStorage(dir));
  });

  test("a data dir of another cluster or member is refused; an unset identity is recorded", () => {
    const dir = tempDir();
    openStorage(dir, { clusterId: "blue" }).close();
    const wrongCluster = refusal(() => openStorage(dir, { clusterId: "green" }));
    expect(wrongCluster.code).toBe("identity_mismatch");
    expect(wrongCluster.message).toContain('belongs to cluster "blue", not "green"');
    expect(wrongCluster.message).toContain(dir);
    const storage = openStorage(dir, { clusterId: "blue", memberId: "n2" });
    expect(storage.identity()).toEqual({ clusterId: "blue", memberId: "n2" });
    expect(() => storage.setIdentity({ memberId: "n3" })).toThrow(/belongs to member "n2", not "n3"/);
    storage.close();
    expect(refusal(() => openStorage(dir, { memberId: "n9" })).message).toContain('member "n2"');
    const later = track(openStorage(dir));
    expect(later.identity()).toEqual({ clusterId: "blue", memberId: "n2" });
  });

  test("an identity learned later (after joining) can be recorded once", () => {
    const dir = tempDir();
    const storage = openStorage(dir);
    storage.setIdentity({ clusterId: "joined", memberId: "n5" });
    storage.close();
    expect(refusal(() => openStorage(dir, { clusterId: "other" })).code).toBe("identity_mismatch");
  });

  test("a second open in the same process is refused while the first holds the dir", () => {
    const dir = tempDir();
    const first = openStorage(dir);
    const error = refusal(() => openStorage(dir));
    expect(error.code).toBe("locked");
    expect(error.message).toContain(`pid ${process.pid}`);
    first.close();
    track(openStorage(dir));
  });

  test("a dir held by another live dkv process is refused with its pid; after it dies (kill -9) the dir opens", async () => {
    const dir = tempDir();
    const holder = Bun.spawn([process.execPath, "run", join(import.meta.dir, "lock-holder.ts"), dir], { stdout: "pipe", stderr: "inherit" });
    try {
      // Read until the holder says it holds the lock (a pipe may deliver the line in pieces) or exits.
      const reader = holder.stdout.getReader();
      let said = "";
      while (!said.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) break;
        said += new TextDecoder().decode(value);
      }
      expect(said).toContain("holding");
      const error = refusal(() => openStorage(dir));
      expect(error.code).toBe("locked");
      expect(error.message).toBe(
        `data dir ${dir} is in use by another dkv process (pid ${holder.pid}); stop it or use another --data-dir`,
      );
    } finally {
      holder.kill(9);
      await holder.exited;
    }
    // The kernel released the dead holder's lock: no stale lock file blocks us.
    const storage = track(openStorage(dir));
    expect(storage.kv.appliedIndex()).toBe(0);
  });

  test("a running node keeps its database to itself; another program's open transaction is refused as locked", () => {
    const dir = tempDir();
    const running = openStorage(dir, { clusterId: "c", memberId: "m" });
    // The node's connection holds SQLite's lock: another connection cannot even read.
    const outsider = new Database(join(dir, "dkv.db"), { readonly: true });
    try {
      outsider.exec("PRAGMA busy_timeout = 0");
      expect(() => outsider.query("SELECT COUNT(*) AS n FROM meta").get()).toThrow(/locked/);
    } finally {
      outsider.close(true);
    }
    running.close();
    // The other way round: a reader in a transaction keeps a node from starting (after the busy wait).
    const reader = new Database(join(dir, "dkv.db"), { readonly: true });
    try {
      reader.exec("BEGIN");
      reader.query("SELECT COUNT(*) AS n FROM meta").get();
      const error = refusal(() => openStorage(dir));
      expect(error.code).toBe("locked");
      expect(error.message).toBe(`${join(dir, "dkv.db")} is open in another program (SQLite reports it locked); close that program and start dkv again`);
    } finally {
      reader.close(true);
    }
    track(openStorage(dir));
  }, 15_000);

  test("a crash while creating the database leaves debris that the next open replaces", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "dkv.db.creating"), "half-written");
    mkdirSync(join(dir, "snap"));
    const storage = track(openStorage(dir));
    expect(storage.log.lastIndex()).toBe(0);
    expect(readdirSync(dir)).not.toContain("dkv.db.creating");
  });

  test("a damaged database is refused with what to do, and its lock is released", () => {
    const dir = tempDir();
    openStorage(dir, { clusterId: "cluster-a", memberId: "n1" }).close();
    const path = join(dir, "dkv.db");
    const bytes = new Uint8Array(readFileSync(path));
    const pageSize = 4096;
    expect(bytes.length).toBeGreaterThan(pageSize * 2);
    // Page 1 (header and schema) stays, so SQLite opens the file and fails on the first table it reads.
    for (let i = pageSize; i < bytes.length; i++) bytes[i] = 0xde;
    writeFileSync(path, bytes);
    for (let attempt = 0; attempt < 2; attempt++) {
      const error = refusal(() => openStorage(dir));
      expect(error.code).toBe("corrupt");
      expect(error.message).toContain(`${path} is damaged`);
      expect(error.message).toContain("dkv snapshot restore");
      expect(error.message).toContain("dkv member remove");
    }
  });
});
