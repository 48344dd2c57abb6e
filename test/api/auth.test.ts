// Passwords and roles on the client API (--auth-file): the file's checks, the
// authenticator's answers, its memory of checked headers and its limit on
// password checks at once, and every wire and serving path refusing a caller
// without the method's role.
import { afterEach, describe, expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Authenticator, AuthFileError, parseAuthFile, requiredRole, type AuthUser } from "../../src/api/auth.js";
import { basicAuthorization } from "../../src/client/transport.js";
import { ServerPool, WIRES, bytes, clientsFor, type Wire } from "./harness.js";

const pool = new ServerPool();
afterEach(() => pool.stopAll());

const codeOf = (promise: Promise<unknown>) => promise.then(() => "ok", (error: unknown) => (error instanceof ConnectError ? Code[error.code] : String(error)));

// Real argon2id hashes, made once: checking one takes ~0.1-0.3 s.
const hashes = { reader: await Bun.password.hash("r-pass"), writer: await Bun.password.hash("w-pass"), admin: await Bun.password.hash("a-pass") };
const users: AuthUser[] = [
  { name: "reader", passwordHash: hashes.reader, role: "read" },
  { name: "writer", passwordHash: hashes.writer, role: "write" },
  { name: "admin", passwordHash: hashes.admin, role: "admin" },
];
// For the many servers below: bcrypt at its lowest cost checks in ~1 ms.
const cheap = async (password: string) => Bun.password.hash(password, { algorithm: "bcrypt", cost: 4 });
const quickUsers: AuthUser[] = [
  { name: "reader", passwordHash: await cheap("r-pass"), role: "read" },
  { name: "writer", passwordHash: await cheap("w-pass"), role: "write" },
  { name: "admin", passwordHash: await cheap("a-pass"), role: "admin" },
];

describe("auth file", () => {
  test("a valid file gives its users; each mistake is named with where it is", () => {
    const text = JSON.stringify({ users: [{ name: "app", password_hash: hashes.reader, role: "write" }] });
    expect(parseAuthFile(text, "a.json")).toEqual([{ name: "app", passwordHash: hashes.reader, role: "write" }]);
    const bad: Array<[unknown, string]> = [
      ["{", "a.json is not valid JSON"],
      [{ users: [] }, "at least one user"],
      [{ users: [{ name: "a b", password_hash: hashes.reader, role: "read" }] }, "users[0].name"],
      [{ users: [{ name: "a", password_hash: "secret", role: "read" }] }, "users[0].password_hash must be a hash"],
      [{ users: [{ name: "a", password_hash: hashes.reader, role: "root" }] }, "users[0].role must be read, write or admin"],
      [{ users: [{ name: "a", password_hash: hashes.reader, role: "read" }, { name: "a", password_hash: hashes.reader, role: "read" }] }, 'user "a" is listed twice'],
    ];
    for (const [document, message] of bad) {
      const attempt = () => parseAuthFile(typeof document === "string" ? document : JSON.stringify(document), "a.json");
      expect(attempt).toThrow(AuthFileError);
      expect(attempt).toThrow(message);
    }
  });

  test("reads need read, writes write, membership, backups and move-leader admin", () => {
    expect(requiredRole("dkv.v1.DkvAPI/Get")).toBe("read");
    expect(requiredRole("dkv.v1.DkvAPI/Watch")).toBe("read");
    expect(requiredRole("dkv.v1.DkvAPI/Txn")).toBe("write");
    expect(requiredRole("dkv.v1.MembershipAPI/GetServers")).toBe("read");
    expect(requiredRole("dkv.v1.MembershipAPI/LeaveServer")).toBe("admin");
    expect(requiredRole("dkv.v1.MaintenanceAPI/Snapshot")).toBe("admin");
    expect(requiredRole("dkv.v1.SomeFutureAPI/Anything")).toBe("admin");
  });
});

describe("Authenticator", () => {
  test("no header, another scheme, an unknown user or a wrong password is unauthenticated; a role too low is permission_denied", async () => {
    const auth = new Authenticator(users);
    const attempt = (header: string | null, role: "read" | "write" | "admin" = "read") => codeOf(auth.authorize(header, role, "P"));
    expect(await attempt(null)).toBe("Unauthenticated");
    expect(await attempt("Bearer abc")).toBe("Unauthenticated");
    expect(await attempt(basicAuthorization("nobody", "r-pass"))).toBe("Unauthenticated");
    expect(await attempt(basicAuthorization("reader", "w-pass"))).toBe("Unauthenticated");
    expect(await attempt(basicAuthorization("reader", "r-pass"))).toBe("ok");
    expect(await attempt(basicAuthorization("reader", "r-pass"), "write")).toBe("PermissionDenied");
    expect(await attempt(basicAuthorization("writer", "w-pass"), "write")).toBe("ok");
    expect(await attempt(basicAuthorization("writer", "w-pass"), "admin")).toBe("PermissionDenied");
    expect(await attempt(basicAuthorization("admin", "a-pass"), "admin")).toBe("ok");
  });

  test("a checked header is remembered for five minutes; a wrong one is checked every time", async () => {
    let checks = 0;
    let now = 0;
    const auth = new Authenticator(users, () => now, async (password, hash) => {
      checks++;
      return Bun.password.verify(password, hash);
    });
    const good = basicAuthorization("reader", "r-pass");
    for (let i = 0; i < 3; i++) await auth.authorize(good, "read", "P");
    expect(checks).toBe(1);
    for (let i = 0; i < 2; i++) expect(await codeOf(auth.authorize(basicAuthorization("reader", "guess"), "read", "P"))).toBe("Unauthenticated");
    expect(checks).toBe(3);
    now += 5 * 60 * 1000 + 1;
    await auth.authorize(good, "read", "P");
    expect(checks).toBe(4);
  });

  test("two password checks run at once and 64 wait; more are refused at once with resource_exhausted", async () => {
    let running = 0;
    let most = 0;
    const release: Array<() => void> = [];
    const auth = new Authenticator(users, undefined, async () => {
      most = Math.max(most, ++running);
      await new Promise<void>((resolve) => release.push(resolve));
      running--;
      return false;
    });
    const attempts = Array.from({ length: 66 }, (_, i) => codeOf(auth.authorize(basicAuthorization("reader", `guess-${i}`), "read", "P")));
    expect(await codeOf(auth.authorize(basicAuthorization("reader", "one-too-many"), "read", "P"))).toBe("ResourceExhausted");
    while (release.length > 0 || running > 0) {
      release.splice(0).forEach((go) => go());
      await Bun.sleep(1);
    }
    expect(new Set(await Promise.all(attempts))).toEqual(new Set(["Unauthenticated"]));
    expect(most).toBe(2);
  });
});

/** A fetch that sends `authorization` with every request. */
function fetchAs(authorization: string): typeof fetch {
  return ((input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    headers.set("Authorization", authorization);
    return fetch(input, { ...init, headers });
  }) as typeof fetch;
}

const paths = [
  { name: "lean unary path", options: {} },
  { name: "stock unary path", options: { leanUnary: false } },
  { name: "API worker", options: { apiWorker: true } },
];

for (const { name, options } of paths) {
  describe(`over the wire (${name})`, () => {
    for (const wire of WIRES) {
      test(`${wire}: no password is unauthenticated, a reader reads but cannot write, a writer writes, admin alone moves the leader`, async () => {
        const { api, node } = await pool.start({ ...options, auth: new Authenticator(quickUsers) });
        const anonymous = clientsFor(wire as Wire, api.url);
        const reader = clientsFor(wire as Wire, api.url, fetchAs(basicAuthorization("reader", "r-pass")));
        const writer = clientsFor(wire as Wire, api.url, fetchAs(basicAuthorization("writer", "w-pass")));
        const admin = clientsFor(wire as Wire, api.url, fetchAs(basicAuthorization("admin", "a-pass")));
        expect(await codeOf(anonymous.dkv.get({ key: "k" }))).toBe("Unauthenticated");
        expect(await codeOf(reader.dkv.set({ key: "k", value: bytes("v") }))).toBe("PermissionDenied");
        expect(await codeOf(writer.dkv.set({ key: "k", value: bytes("v") }))).toBe("ok");
        expect((await reader.dkv.get({ key: "k" })).found).toBe(true);
        expect(await codeOf(writer.maintenance.moveLeader({ targetId: "n1" }))).toBe("PermissionDenied");
        expect(await codeOf(admin.maintenance.moveLeader({ targetId: "n1" }))).toBe("ok");
        // Streams too: a watch without a password never starts.
        const watched = (async () => {
          for await (const _ of anonymous.dkv.watch({ key: "k" })) return "answered";
          return "ended";
        })();
        expect(await codeOf(watched)).toBe("Unauthenticated");
        expect(node.data.size).toBe(1);
      }, 20_000);
    }
  });
}

test("health and metrics stay open without a password", async () => {
  const { api } = await pool.start({ auth: new Authenticator(quickUsers) });
  expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${api.url}/metrics`)).status).toBe(200);
});
