// Checks on what a node persists and sends, made by its driver: the hard
// state only moves forward (a node never votes twice in a term, even across
// a crash), and no message goes out that relies on an unpersisted term or vote.

import { type HardState, type Message, MessageType, type NodeId, NONE } from "../../src/raft/types";
import { Violation } from "./checkers/violation";

export function checkHardStateProgress(node: NodeId, before: HardState, after: HardState): void {
  if (after.term < before.term) {
    throw new Violation("election safety", `${node} persisted term ${after.term} after term ${before.term}`);
  }
  if (after.term === before.term && before.vote !== NONE && after.vote !== before.vote) {
    throw new Violation(
      "election safety",
      `${node} voted for ${before.vote} in term ${before.term}, then persisted a vote for ${after.vote || "nobody"} in the same term`,
    );
  }
  if (after.commit < before.commit) {
    throw new Violation("driver contract", `${node} persisted commit ${after.commit} after commit ${before.commit}`);
  }
}

/** `persisted` is the node's durable hard state at the moment `msg` is sent. */
export function checkMessagePersisted(persisted: HardState, msg: Message): void {
  // A pre-vote (and the answer to one) uses a term the node has not adopted, by design.
  if (msg.type === MessageType.PreVote || msg.type === MessageType.PreVoteResponse) return;
  if (msg.term > persisted.term) {
    throw new Violation(
      "persist before send",
      `${msg.from} sent ${MessageType[msg.type]} to ${msg.to} at term ${msg.term} while its durable term is ${persisted.term}`,
    );
  }
  // When the durable term is already newer, the node moved on in the same Ready; nothing of term msg.term can be reused.
  if (msg.term < persisted.term) return;
  if (msg.type === MessageType.Vote && persisted.vote !== msg.from) {
    throw new Violation(
      "persist before send",
      `${msg.from} asked for votes in term ${msg.term} without a durable vote for itself (durable vote: "${persisted.vote}")`,
    );
  }
  if (msg.type === MessageType.VoteResponse && !msg.reject && persisted.vote !== msg.to) {
    throw new Violation(
      "persist before send",
      `${msg.from} granted its term-${msg.term} vote to ${msg.to} before persisting it ` +
        `(durable: term ${persisted.term}, vote "${persisted.vote}")`,
    );
  }
}
