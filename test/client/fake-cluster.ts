// A stand-in for a dkv cluster in one process: N Bun.serve ports speaking the
// three client services over one shared Map. Not raft: the point is to give
// the client's failover, routing and error handling something to talk to,
// with knobs to make a node claim leadership, answer `unavailable`, answer
// slowly, hang, lose an answer after applying, or vanish.
import { Code, ConnectError, createConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { createFetchHandler } from "@connectrpc/connect/protocol";
import { Compare_Target, DkvAPI, type Compare } from "../../src/gen/dkv/v1/kv_pb.ts";
import { MaintenanceAPI } from "../../src/gen/dkv/v1/maintenance_pb.ts";
import { MembershipAPI } from "../../src/gen/dkv/v1/membership_pb.ts";

/** Longest a hanging node holds a request; far past any test's deadline, but bounded. */
const HANG_MAX_MS = 20_000;
const SNAPSHOT_CHUNK_BYTES = 16;

export interface FakeNodeKnobs {
  /** Answer every call with `unavailable`. */
  unavailable: boolean;
  /** Wait this long before answering. */
  delayMs: number;
  /** Never answer (until the client gives up or the node stops). */
  hang: boolean;
  /** Answer every key-value call with this error. */
  failWith?: { code: Code; message: string };
  /** Apply writes, then answer `unavailable` as if the answer were lost on the way back. */
  loseAnswerAfterApply: boolean;
  /** Send a snapshot whose checksum does not match its bytes. */
  corruptSnapshot: boolean;
}

export interface FakeTls {
  cert: string;
  key: string;
  ca: string;
}

interface Entry {
  value: Uint8Array;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
}

interface ExtraMember {
  id: string;
  peerAddress: string;
  learner: boolean;
}

export class FakeNode {
  knobs: FakeNodeKnobs = { unavailable: false, delayMs: 0, hang: false, loseAnswerAfterApply: false, corruptSnapshot: false };
  /** Method names in arrival order, e.g. "Set", "GetServers". */
  readonly calls: string[] = [];
  private server: ReturnType<typeof Bun.serve> | undefined;
  private readonly stopped = new AbortController();
  /** Kept after stop() so the address still names the (now closed) port. */
  readonly port: number;

  constructor(
    readonly id: string,
    server: ReturnType<typeof Bun.serve>,
  ) {
    this.server = server;
    this.port = server.port!;
  }

  /** "127.0.0.1:PORT", the node's client address. */
  address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Closes the port; later dials are refused. */
  stop(): void {
    this.stopped.abort();
    this.server?.stop(true);
    this.server = undefined;
  }

  /** Counts calls of one method. */
  count(method: string): number {
    return this.calls.filter((c) => c === method).length;
  }

  /** Applies the knobs that come before any answer; returns when the node may answer. */
  async gate(method: string, ctx: HandlerContext): Promise<void> {
    this.calls.push(method);
    if (this.knobs.delayMs > 0) await Bun.sleep(this.knobs.delayMs);
    if (this.knobs.hang) await waitForAbort([ctx.signal, this.stopped.signal], HANG_MAX_MS);
    if (this.knobs.unavailable) throw new ConnectError(`node ${this.id} is unavailable (fake)`, Code.Unavailable);
  }
}

function waitForAbort(signals: AbortSignal[], maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, maxMs);
    for (const signal of signals) signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}

export class FakeCluster {
  readonly nodes: FakeNode[] = [];
  readonly data = new Map<string, Entry>();
  readonly extraMembers: ExtraMember[] = [];
  leaderId: string | undefined;
  revision = 0n;
  /** Compare-and-swap operations that succeeded, to prove none ran twice. */
  casApplied = 0;

  private constructor() {}

  static async start(options: { size?: number; tls?: FakeTls; leaderId?: string } = {}): Promise<FakeCluster> {
    const cluster = new FakeCluster();
    const size = options.size ?? 3;
    for (let i = 1; i <= size; i++) cluster.nodes.push(cluster.startNode(`n${i}`, options.tls));
    cluster.leaderId = options.leaderId ?? "n1";
    return cluster;
  }

  node(id: string): FakeNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no fake node ${id}`);
    return node;
  }

  /** Comma-separated client addresses of the given nodes (all when none given). */
  endpoints(...ids: string[]): string {
    const chosen = ids.length === 0 ? this.nodes : ids.map((id) => this.node(id));
    return chosen.map((n) => n.address()).join(",");
  }

  stop(): void {
    for (const node of this.nodes) node.stop();
  }

  private startNode(id: string, tls: FakeTls | undefined): FakeNode {
    const router = createConnectRouter();
    let node: FakeNode | undefined;
    const self = (): FakeNode => node!;
    router.service(DkvAPI, this.kvService(self));
    router.service(MembershipAPI, this.membershipService(self));
    router.service(MaintenanceAPI, this.maintenanceService(self));
    const handlers = new Map(router.handlers.map((h) => [h.requestPath, createFetchHandler(h)]));
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      ...(tls && { tls: { ...tls, requestCert: true, rejectUnauthorized: true } }),
      fetch(request) {
        const handler = handlers.get(new URL(request.url).pathname);
        return handler ? handler(request) : new Response("not found", { status: 404 });
      },
    });
    node = new FakeNode(id, server);
    return node;
  }

  private kvService(self: () => FakeNode) {
    const cluster = this;
    const kvGate = async (method: string, ctx: HandlerContext) => {
      await self().gate(method, ctx);
      const failWith = self().knobs.failWith;
      if (failWith) throw new ConnectError(failWith.message, failWith.code);
    };
    const afterWrite = () => {
      if (self().knobs.loseAnswerAfterApply) throw new ConnectError(`answer from ${self().id} lost (fake)`, Code.Unavailable);
    };
    return {
      async get(req: { key: string }, ctx: HandlerContext) {
        await kvGate("Get", ctx);
        const entry = cluster.data.get(req.key);
        return { found: entry !== undefined, value: entry?.value, kv: entry && cluster.kv(req.key, entry, false), header: cluster.header(self()) };
      },
      async set(req: { key: string; value: Uint8Array }, ctx: HandlerContext) {
        await kvGate("Set", ctx);
        if (req.key === "") throw new ConnectError("key must not be empty", Code.InvalidArgument);
        const entry = cluster.write(req.key, req.value);
        afterWrite();
        return { kv: cluster.kv(req.key, entry, false), header: cluster.header(self()) };
      },
      async delete(req: { key: string }, ctx: HandlerContext) {
        await kvGate("Delete", ctx);
        const deleted = cluster.data.delete(req.key);
        if (deleted) cluster.revision++;
        afterWrite();
        return { deleted, header: cluster.header(self()) };
      },
      async list(req: { prefix: string; key: string; rangeEnd: string; limit: number; keysOnly: boolean }, ctx: HandlerContext) {
        await kvGate("List", ctx);
        const inRange = (k: string) => (req.rangeEnd ? k >= req.key && k < req.rangeEnd : k.startsWith(req.prefix));
        const keys = [...cluster.data.keys()].filter(inRange).sort();
        const limited = req.limit > 0 ? keys.slice(0, req.limit) : keys;
        return { kvs: limited.map((k) => cluster.kv(k, cluster.data.get(k)!, req.keysOnly)), more: limited.length < keys.length, header: cluster.header(self()) };
      },
      async compareAndSwap(req: { compare?: Compare; key: string; value: Uint8Array; delete: boolean }, ctx: HandlerContext) {
        await kvGate("CompareAndSwap", ctx);
        const compare = req.compare!;
        const previous = cluster.data.get(compare.key);
        const succeeded = matches(compare, previous);
        if (succeeded) {
          cluster.casApplied++;
          if (req.delete) cluster.data.delete(req.key) && cluster.revision++;
          else cluster.write(req.key, req.value);
          afterWrite();
        }
        return { succeeded, previousFound: previous !== undefined, previous: previous && cluster.kv(compare.key, previous, false), header: cluster.header(self()) };
      },
    };
  }

  private membershipService(self: () => FakeNode) {
    const cluster = this;
    return {
      async getServers(_req: object, ctx: HandlerContext) {
        await self().gate("GetServers", ctx);
        const servers = cluster.nodes.map((n, i) => ({ id: n.id, raftAddress: `127.0.0.1:${17000 + i}`, rpcAddress: n.address(), isLeader: n.id === cluster.leaderId }));
        const extra = cluster.extraMembers.map((m) => ({ id: m.id, raftAddress: m.peerAddress, rpcAddress: "", isLearner: m.learner }));
        return { servers: [...servers, ...extra] };
      },
      async joinServer(req: { id: string; address: string; learner: boolean }, ctx: HandlerContext) {
        await self().gate("JoinServer", ctx);
        if (cluster.nodes.some((n) => n.id === req.id) || cluster.extraMembers.some((m) => m.id === req.id)) {
          throw new ConnectError(`member "${req.id}" already exists`, Code.AlreadyExists);
        }
        cluster.extraMembers.push({ id: req.id, peerAddress: req.address, learner: req.learner });
        return {};
      },
      async updateServer(req: { id: string; address: string }, ctx: HandlerContext) {
        await self().gate("UpdateServer", ctx);
        const member = cluster.extraMembers.find((m) => m.id === req.id);
        if (!member) throw new ConnectError(`member "${req.id}" not found`, Code.NotFound);
        member.peerAddress = req.address;
        return {};
      },
      async leaveServer(req: { id: string }, ctx: HandlerContext) {
        await self().gate("LeaveServer", ctx);
        const index = cluster.extraMembers.findIndex((m) => m.id === req.id);
        if (index === -1) throw new ConnectError(`member "${req.id}" not found`, Code.NotFound);
        cluster.extraMembers.splice(index, 1);
        return {};
      },
    };
  }

  private maintenanceService(self: () => FakeNode) {
    const cluster = this;
    return {
      async status(_req: object, ctx: HandlerContext) {
        await self().gate("Status", ctx);
        const node = self();
        return {
          memberId: node.id,
          leaderId: cluster.leaderId ?? "",
          isLeader: node.id === cluster.leaderId,
          raftTerm: 3n,
          commitIndex: cluster.revision,
          appliedIndex: cluster.revision,
          dbSizeBytes: BigInt(cluster.data.size * 64 + 4096),
          version: "0.0.0-fake",
          clusterId: "fake-cluster",
        };
      },
      async *snapshot(_req: object, ctx: HandlerContext) {
        await self().gate("Snapshot", ctx);
        const image = cluster.image();
        const sha256 = new Bun.CryptoHasher("sha256").update(self().knobs.corruptSnapshot ? "something else" : image).digest("hex");
        for (let offset = 0; offset < image.byteLength; offset += SNAPSHOT_CHUNK_BYTES) {
          const last = offset + SNAPSHOT_CHUNK_BYTES >= image.byteLength;
          const data = image.subarray(offset, offset + SNAPSHOT_CHUNK_BYTES);
          yield last ? { data, sha256, index: cluster.revision, sizeBytes: BigInt(image.byteLength) } : { data };
        }
      },
    };
  }

  /** The whole state as bytes: what a snapshot of the fake carries. */
  image(): Uint8Array {
    const rows = [...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, e]) => [k, new TextDecoder().decode(e.value)]);
    return new TextEncoder().encode(JSON.stringify(rows));
  }

  private write(key: string, value: Uint8Array): Entry {
    this.revision++;
    const old = this.data.get(key);
    const entry = { value, createRevision: old?.createRevision ?? this.revision, modRevision: this.revision, version: (old?.version ?? 0n) + 1n };
    this.data.set(key, entry);
    return entry;
  }

  private kv(key: string, entry: Entry, keysOnly: boolean) {
    return { key, value: keysOnly ? new Uint8Array() : entry.value, createRevision: entry.createRevision, modRevision: entry.modRevision, version: entry.version };
  }

  private header(node: FakeNode) {
    return { revision: this.revision, memberId: node.id, raftTerm: 3n };
  }
}

function matches(compare: Compare, entry: Entry | undefined): boolean {
  switch (compare.target) {
    case Compare_Target.VALUE:
      return entry !== undefined && Buffer.from(entry.value).equals(Buffer.from(compare.value));
    case Compare_Target.VERSION:
      return (entry?.version ?? 0n) === compare.number;
    case Compare_Target.MOD_REVISION:
      return (entry?.modRevision ?? 0n) === compare.number;
    case Compare_Target.CREATE_REVISION:
      return (entry?.createRevision ?? 0n) === compare.number;
    default:
      return false;
  }
}
