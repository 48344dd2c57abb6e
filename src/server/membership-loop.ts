// The leader's housekeeping of the member list, run every half second (sooner
// right after a change, so a new cluster forms quickly): every member
// publishes its own addresses; the leader promotes caught-up learners that
// asked to vote and, while a new cluster forms, adds listed members that
// answer a ping.
import { ConfChangeType, PROMOTION_MAX_LAG_ENTRIES, type ConfChange, type RaftStatus } from "../raft/index.ts";
import type { NodeConfig } from "./config.ts";
import type { Forwarder } from "./forwarder.ts";
import type { Logger } from "./logger.ts";
import { encodeMemberContext, memberRecordCommand, readRemovedMembers, type MemberInfo } from "./members.ts";
import type { Storage } from "../storage/index.ts";

/** How often the loop runs when nothing changed. */
export const MEMBERSHIP_LOOP_MS = 500;
/** How soon it runs again after it changed something. */
const AFTER_CHANGE_MS = 20;

export interface MembershipLoopDeps {
  config: NodeConfig;
  store: Storage;
  log: Logger;
  forwarder: Forwarder;
  isLeader(): boolean;
  leaderId(): string;
  raftStatus(): RaftStatus;
  /** Re-reads the member records; returns the fresh list. */
  refreshMembers(): MemberInfo[];
  changeMembership(change: ConfChange): Promise<void>;
  addMember(id: string, peerAddress: string, clientAddress: string): Promise<void>;
  /** Proposes a command (forwarded to the leader when needed). */
  propose(command: Uint8Array): Promise<unknown>;
}

export class MembershipLoop {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(private readonly d: MembershipLoopDeps) {}

  start(): void {
    this.schedule(MEMBERSHIP_LOOP_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.runOnce().then(
        (changed) => !this.stopped && this.schedule(changed ? AFTER_CHANGE_MS : MEMBERSHIP_LOOP_MS),
        () => !this.stopped && this.schedule(MEMBERSHIP_LOOP_MS),
      );
    }, delayMs);
  }

  /** One pass; true when it changed something. */
  private async runOnce(): Promise<boolean> {
    if (this.stopped) return false;
    // Member records also change without a membership change (published addresses).
    const members = this.d.refreshMembers();
    if (await this.publishOwnAddresses(members)) return true;
    if (!this.d.isLeader()) return false;
    const status = this.d.raftStatus();
    for (const member of members) {
      if (!member.isLearner || !member.wantsVote) continue;
      const match = status.progress?.[member.id]?.match ?? 0;
      if (status.lastIndex - match > PROMOTION_MAX_LAG_ENTRIES) continue;
      const context = encodeMemberContext({ peerAddress: member.peerAddress, clientAddress: member.clientAddress, wantsVote: false });
      // One change at a time.
      return this.d.changeMembership({ type: ConfChangeType.AddVoter, nodeId: member.id, context }).then(
        () => {
          this.d.log.info("promoted learner to voter", { member: member.id });
          return true;
        },
        (e) => {
          this.d.log.debug("promotion not done yet", { member: member.id, reason: e });
          return false;
        },
      );
    }
    if (this.d.config.initialClusterState !== "new") return false;
    // Only while a new cluster forms: a listed member that was removed stays removed.
    const removed = readRemovedMembers(this.d.store);
    for (const listed of this.d.config.initialCluster) {
      if (members.some((m) => m.id === listed.name) || removed.has(listed.name)) continue;
      try {
        const reply = await this.d.forwarder.send(listed.name, "ping", new Uint8Array(0), 1000);
        const { clientAddress } = JSON.parse(new TextDecoder().decode(reply.result)) as { clientAddress: string };
        this.d.log.info("adding listed member", { member: listed.name, peer: listed.peerAddress });
        await this.d.addMember(listed.name, listed.peerAddress, clientAddress);
        return true;
      } catch (e) {
        this.d.log.debug("listed member not reachable yet", { member: listed.name, reason: e });
      }
      return false;
    }
    return false;
  }

  /**
   * Records this member's advertised addresses in the replicated member list
   * when they differ from what was recorded (a member added by peer address
   * only, a restored cluster, a changed --advertise-client-address), as etcd
   * publishes its client URLs. True when it wrote.
   */
  private async publishOwnAddresses(members: MemberInfo[]): Promise<boolean> {
    const { config } = this.d;
    const me = members.find((m) => m.id === config.name);
    if (!me || !this.d.leaderId()) return false;
    if (me.clientAddress === config.advertiseClientAddress && me.peerAddress === config.advertisePeerAddress) return false;
    const context = encodeMemberContext({ peerAddress: config.advertisePeerAddress, clientAddress: config.advertiseClientAddress, wantsVote: me.wantsVote ?? false });
    try {
      await this.d.propose(memberRecordCommand({ type: ConfChangeType.AddVoter, nodeId: config.name, context }));
      this.d.refreshMembers();
      this.d.log.info("published this member's addresses", { peer: config.advertisePeerAddress, client: config.advertiseClientAddress });
      return true;
    } catch (error) {
      this.d.log.debug("could not publish this member's addresses yet", { reason: error });
      return false;
    }
  }
}
