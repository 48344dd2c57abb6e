// Password authentication and roles for the client API (--auth-file), as
// rqlite's -auth file: each user has a password hash and one role, and every
// RPC needs a role. Roles nest: admin can do what write can, write what read
// can. Health, readiness and metrics stay open, as etcd's are.
//
// Credentials come as HTTP Basic authentication. Checking a password hash is
// slow on purpose (argon2id ~0.1-0.3 s here), so a checked header is
// remembered for a while, and at most a few checks run at once: wrong
// passwords cannot take the member's CPU.
import { Code, ConnectError } from "@connectrpc/connect";

export type Role = "read" | "write" | "admin";

const RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };

export interface AuthUser {
  name: string;
  /** As `dkv auth hash` prints it (argon2id or bcrypt, PHC string). */
  passwordHash: string;
  role: Role;
}

/** A checked header is trusted this long; a changed file needs a restart anyway. */
const REMEMBER_MS = 5 * 60 * 1000;
/** At most this many remembered headers; past it the oldest are forgotten. */
const REMEMBER_MAX = 4096;
/** Password checks running at once; more wait in line. */
const CHECKS_AT_ONCE = 2;
/** More waiting than this are refused at once (someone is guessing passwords). */
const CHECKS_WAITING_MAX = 64;

export class AuthFileError extends Error {
  override name = "AuthFileError";
}

/** The users of an auth file's JSON text: {"users": [{"name", "password_hash", "role"}]}. */
export function parseAuthFile(text: string, path: string): AuthUser[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new AuthFileError(`${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const users = (document as { users?: unknown } | null)?.users;
  if (!Array.isArray(users) || users.length === 0) throw new AuthFileError(`${path} must be {"users": [...]} with at least one user`);
  const seen = new Set<string>();
  return users.map((entry: unknown, i) => {
    const where = `${path}: users[${i}]`;
    const { name, password_hash: passwordHash, role } = (entry ?? {}) as Record<string, unknown>;
    if (typeof name !== "string" || !/^[A-Za-z0-9._@-]{1,64}$/.test(name)) throw new AuthFileError(`${where}.name must be 1-64 letters, digits or . _ @ -`);
    if (seen.has(name)) throw new AuthFileError(`${where}: user "${name}" is listed twice`);
    seen.add(name);
    if (typeof passwordHash !== "string" || !/^\$(argon2id|argon2i|argon2d|2a|2b|2y)\$/.test(passwordHash)) {
      throw new AuthFileError(`${where}.password_hash must be a hash from \`dkv auth hash\` (argon2 or bcrypt), not a password`);
    }
    if (role !== "read" && role !== "write" && role !== "admin") throw new AuthFileError(`${where}.role must be read, write or admin`);
    return { name, passwordHash, role };
  });
}

export class Authenticator {
  private users = new Map<string, AuthUser>();
  private readonly remembered = new Map<string, { user: AuthUser; until: number }>();
  private checking = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    users: readonly AuthUser[],
    private readonly now: () => number = () => performance.now(),
    private readonly verify: (password: string, hash: string) => Promise<boolean> = (password, hash) => Bun.password.verify(password, hash),
  ) {
    this.replaceUsers(users);
  }

  /** Any user: an unknown name is checked against its hash (bound to fail), so timing does not tell names apart. */
  private anyUser!: AuthUser;

  /** A reloaded file: its users from now on; headers checked against the old ones are checked again. */
  replaceUsers(users: readonly AuthUser[]): void {
    if (users.length === 0) throw new AuthFileError("an auth file needs at least one user");
    this.users = new Map(users.map((user) => [user.name, user]));
    this.remembered.clear();
    this.anyUser = users[0]!;
  }

  /** The user behind an Authorization header who may act as `needed`; throws unauthenticated or permission_denied. */
  async authorize(header: string | null | undefined, needed: Role, procedure: string): Promise<string> {
    const user = await this.authenticate(header);
    if (RANK[user.role] < RANK[needed]) {
      throw new ConnectError(`user "${user.name}" has role ${user.role}; ${procedure} needs ${needed}`, Code.PermissionDenied);
    }
    return user.name;
  }

  private async authenticate(header: string | null | undefined): Promise<AuthUser> {
    if (!header) throw new ConnectError("this member requires a user name and password (dkv --user NAME:PASSWORD, or HTTP Basic authentication)", Code.Unauthenticated);
    const known = this.remembered.get(header);
    if (known !== undefined && known.until > this.now()) return known.user;
    const credentials = parseBasic(header);
    const user = credentials === undefined ? undefined : this.users.get(credentials.name);
    if (credentials === undefined) throw new ConnectError("the Authorization header must be HTTP Basic (base64 of NAME:PASSWORD)", Code.Unauthenticated);
    // An unknown name costs a check too (against another user's hash, bound to fail), so timing does not tell which names exist.
    const checked = await this.check(credentials.password, (user ?? this.anyUser).passwordHash);
    if (user === undefined || !checked) throw new ConnectError("wrong user name or password", Code.Unauthenticated);
    this.remember(header, user);
    return user;
  }

  private async check(password: string, hash: string): Promise<boolean> {
    if (this.checking >= CHECKS_AT_ONCE) {
      if (this.waiting.length >= CHECKS_WAITING_MAX) throw new ConnectError("too many password checks in progress; retry shortly", Code.ResourceExhausted);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.checking++;
    try {
      return await this.verify(password, hash).catch(() => false);
    } finally {
      this.checking--;
      this.waiting.shift()?.();
    }
  }

  private remember(header: string, user: AuthUser): void {
    if (this.remembered.size >= REMEMBER_MAX) {
      // Maps iterate in insertion order: the first entries are the oldest.
      for (const key of this.remembered.keys()) {
        this.remembered.delete(key);
        if (this.remembered.size < REMEMBER_MAX / 2) break;
      }
    }
    this.remembered.set(header, { user, until: this.now() + REMEMBER_MS });
  }
}

function parseBasic(header: string): { name: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return undefined;
  return { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The role each RPC needs; methods not listed need admin. */
export const REQUIRED_ROLE: Record<string, Role> = {
  "dkv.v1.DkvAPI/Get": "read",
  "dkv.v1.DkvAPI/List": "read",
  "dkv.v1.DkvAPI/Watch": "read",
  "dkv.v1.DkvAPI/LeaseTimeToLive": "read",
  "dkv.v1.DkvAPI/LeaseLeases": "read",
  "dkv.v1.DkvAPI/Set": "write",
  "dkv.v1.DkvAPI/Delete": "write",
  "dkv.v1.DkvAPI/CompareAndSwap": "write",
  "dkv.v1.DkvAPI/Txn": "write",
  "dkv.v1.DkvAPI/LeaseGrant": "write",
  "dkv.v1.DkvAPI/LeaseRevoke": "write",
  "dkv.v1.DkvAPI/LeaseKeepAlive": "write",
  "dkv.v1.MembershipAPI/GetServers": "read",
  "dkv.v1.MaintenanceAPI/Status": "read",
};

export function requiredRole(procedure: string): Role {
  return REQUIRED_ROLE[procedure] ?? "admin";
}
