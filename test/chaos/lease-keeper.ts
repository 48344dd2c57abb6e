// A lease under the nemesis: one client grants a lease, attaches a key to
// it, and keeps it alive every second through whichever member answers,
// reading the key each time. A lease may end only when no keep-alive
// reached the leader for its whole TTL (a new leader restarts every TTL), so
// if no two successful keep-alives were ever TTL - margin apart, the key
// must never go. If it does, the lease ended early.
import { b64 } from "../e2e/cluster.ts";
import { rpc } from "./workload.ts";

/** Longer than the longest outage the nemesis makes (kill-all, restart, election), so the lease should never end. */
export const LEASE_TTL_SECONDS = 15;
/** Time for a keep-alive to travel and be applied; gaps closer to the TTL than this prove nothing. */
const MARGIN_MS = 1500;
const KEEP_ALIVE_EVERY_MS = 1000;
const REQUEST_TIMEOUT_MS = 1500;
const RETRY_AFTER_MS = 50;
const KEY = "leased";

export interface LeaseKeeperReport {
  leaseId?: string;
  keepAlivesOk: number;
  keepAlivesFailed: number;
  /** Longest time between two successful keep-alives (or the grant and the first), ms. */
  longestGapMs: number;
  /** Reads that found the key gone, with the longest gap up to then. */
  vanished?: { atMs: number; longestGapMs: number };
  /** The lease ended although every gap stayed below TTL - margin. */
  endedEarly: boolean;
  /** Why keep-alives failed, and how often. */
  failures: Record<string, number>;
}

export class LeaseKeeper {
  private stopping = false;
  private loop: Promise<void> | undefined;
  private leaseId: string | undefined;
  private lastOkMs = 0;
  private readonly report: LeaseKeeperReport = { keepAlivesOk: 0, keepAlivesFailed: 0, longestGapMs: 0, endedEarly: false, failures: {} };

  constructor(
    private readonly endpoints: () => string[],
    private readonly now: () => number,
    /** A seeded choice in [0, n): which member the next request goes to. */
    private readonly choose: (n: number) => number,
  ) {}

  /** Grants the lease and sets the key (retrying through the members until both succeed), then keeps it alive. */
  async start(deadlineMs: number): Promise<void> {
    const until = performance.now() + deadlineMs;
    while (this.leaseId === undefined) {
      if (performance.now() > until) throw new Error("could not grant a lease for the lease keeper");
      const granted = await rpc(this.pick(), "dkv.v1.DkvAPI/LeaseGrant", { ttlSeconds: String(LEASE_TTL_SECONDS) }, REQUEST_TIMEOUT_MS);
      if (granted.kind === "answer") this.leaseId = String(granted.body.id);
      else await Bun.sleep(200);
    }
    for (;;) {
      if (performance.now() > until) throw new Error("could not set the leased key");
      const set = await rpc(this.pick(), "dkv.v1.DkvAPI/Set", { key: KEY, value: b64("alive"), lease: this.leaseId }, REQUEST_TIMEOUT_MS);
      if (set.kind === "answer") break;
      await Bun.sleep(200);
    }
    this.report.leaseId = this.leaseId;
    this.lastOkMs = this.now();
    this.loop = this.run();
  }

  async stop(): Promise<LeaseKeeperReport> {
    this.stopping = true;
    await this.loop;
    return this.report;
  }

  private async run(): Promise<void> {
    while (!this.stopping && this.report.vanished === undefined) {
      const kept = await rpc(this.pick(), "dkv.v1.DkvAPI/LeaseKeepAlive", { id: this.leaseId }, REQUEST_TIMEOUT_MS);
      const at = this.now();
      if (kept.kind === "answer") {
        this.report.keepAlivesOk++;
        this.report.longestGapMs = Math.max(this.report.longestGapMs, at - this.lastOkMs);
        this.lastOkMs = at;
      } else {
        this.report.keepAlivesFailed++;
        const why = kept.kind === "error" ? `${kept.code}: ${kept.message}` : `${kept.kind}: ${kept.message}`;
        const reason = why.replace(/\d+/g, "N").slice(0, 120);
        this.report.failures[reason] = (this.report.failures[reason] ?? 0) + 1;
      }
      // A failed keep-alive is tried again at once, likely at another member, as a client with failover would.
      if (kept.kind !== "answer") {
        await Bun.sleep(RETRY_AFTER_MS);
        continue;
      }
      const read = await rpc(this.pick(), "dkv.v1.DkvAPI/Get", { key: KEY }, REQUEST_TIMEOUT_MS);
      if (read.kind === "answer" && read.body.found !== true) {
        const longestGapMs = Math.max(this.report.longestGapMs, this.now() - this.lastOkMs);
        this.report.vanished = { atMs: this.now(), longestGapMs };
        this.report.endedEarly = longestGapMs < LEASE_TTL_SECONDS * 1000 - MARGIN_MS;
        return;
      }
      await Bun.sleep(KEEP_ALIVE_EVERY_MS);
    }
  }

  private pick(): string {
    const endpoints = this.endpoints();
    return endpoints[this.choose(endpoints.length)]!;
  }
}
