// The endpoints a client knows: the ones it was given (seeds, never dropped)
// plus the client addresses the cluster advertises, and which one is the
// leader. Decides the order in which endpoints are tried.
import { parseEndpoint, type Endpoint } from "./endpoints.ts";

/** After losing the leader, ask the cluster again at most this often. */
export const REDISCOVERY_INTERVAL_MS = 300;

export interface AdvertisedMember {
  id: string;
  clientAddress: string;
  isLeader: boolean;
}

export class EndpointPool {
  private discovered: Endpoint[] = [];
  private leaderAddress: string | undefined;
  private leaderIdValue: string | undefined;
  private discoveredAtMs: number | undefined;
  /** Endpoints a TCP dial reached, until a connection-level failure says otherwise. */
  private readonly dialed = new Set<string>();
  /** The endpoint that answered last: tried first when there is no leader to prefer. */
  private lastGood: string | undefined;

  constructor(
    private readonly seeds: readonly Endpoint[],
    private readonly secureByDefault: boolean,
  ) {
    if (seeds.length === 0) throw new Error("EndpointPool needs at least one endpoint");
  }

  all(): Endpoint[] {
    const seen = new Set(this.seeds.map((e) => e.address));
    return [...this.seeds, ...this.discovered.filter((e) => !seen.has(e.address))];
  }

  find(address: string): Endpoint | undefined {
    return this.all().find((e) => e.address === address);
  }

  get leader(): string | undefined {
    return this.leaderAddress;
  }

  get leaderId(): string | undefined {
    return this.leaderIdValue;
  }

  /** Candidates in the order to try: the leader first when asked, then the last endpoint that answered, then the rest as given. */
  ordered(preferLeader: boolean): Endpoint[] {
    const all = this.all();
    const first = [preferLeader ? this.leaderAddress : undefined, this.lastGood].filter((a): a is string => a !== undefined);
    const rank = (e: Endpoint): number => {
      const index = first.indexOf(e.address);
      return index === -1 ? first.length : index;
    };
    return all.map((e, i) => ({ e, i })).sort((a, b) => rank(a.e) - rank(b.e) || a.i - b.i).map((x) => x.e);
  }

  needsDiscovery(nowMs: number): boolean {
    if (this.discoveredAtMs === undefined) return true;
    return this.leaderAddress === undefined && nowMs - this.discoveredAtMs >= REDISCOVERY_INTERVAL_MS;
  }

  /** Records an answer to GetServers (or that the server could not give one: then we stop asking for a while). */
  learn(members: readonly AdvertisedMember[] | undefined, nowMs: number): void {
    this.discoveredAtMs = nowMs;
    if (members === undefined) return;
    const endpoints: Endpoint[] = [];
    let leader: AdvertisedMember | undefined;
    for (const member of members) {
      if (member.isLeader) leader = member;
      const endpoint = this.tryParse(member.clientAddress);
      if (endpoint) endpoints.push(endpoint);
    }
    this.discovered = endpoints;
    this.leaderIdValue = leader?.id;
    this.leaderAddress = leader ? this.tryParse(leader.clientAddress)?.address : undefined;
  }

  forgetLeader(address: string): void {
    if (this.leaderAddress === address) {
      this.leaderAddress = undefined;
      this.leaderIdValue = undefined;
    }
  }

  isDialed(address: string): boolean {
    return this.dialed.has(address);
  }

  markDialed(address: string): void {
    this.dialed.add(address);
  }

  markAnswered(address: string): void {
    this.dialed.add(address);
    this.lastGood = address;
  }

  markBroken(address: string): void {
    this.dialed.delete(address);
    if (this.lastGood === address) this.lastGood = undefined;
    this.forgetLeader(address);
  }

  private tryParse(address: string): Endpoint | undefined {
    if (address === "") return undefined;
    try {
      return parseEndpoint(address, this.secureByDefault);
    } catch {
      // A member advertising garbage must not break the client; it is just not used.
      return undefined;
    }
  }
}
