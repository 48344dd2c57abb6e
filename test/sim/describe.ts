// One-line descriptions of raft messages for the trace.

import { type Message, MessageType } from "../../src/raft/types";

export function describeMessage(msg: Message): string {
  const parts = [`${MessageType[msg.type]} ${msg.from}->${msg.to} term=${msg.term}`];
  if (msg.logTerm !== 0 || msg.index !== 0) parts.push(`log=${msg.index}/${msg.logTerm}`);
  if (msg.entries.length > 0) {
    const first = msg.entries[0]!;
    const last = msg.entries[msg.entries.length - 1]!;
    parts.push(`entries=${first.index}..${last.index}(t${first.term}..t${last.term})`);
  }
  if (msg.commit !== 0) parts.push(`commit=${msg.commit}`);
  if (msg.reject) parts.push(`reject hint=${msg.rejectHint}`);
  if (msg.snapshot !== undefined) {
    parts.push(`snapshot=${msg.snapshot.index}/${msg.snapshot.term} off=${msg.snapshotOffset} len=${msg.snapshotData.length}${msg.snapshotDone ? " done" : ""}`);
  }
  if (msg.context.length > 0) parts.push(`ctx=${msg.context.length}B`);
  return parts.join(" ");
}
