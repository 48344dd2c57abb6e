// The node bench/api puts in front of the API when only the API's own cost is
// measured: the in-memory test node with a put that answers at once (no
// revisions kept, no watch history, no copies).
import { MemoryNode } from "../../test/api/memory-node.js";

export function instantPutNode(): MemoryNode {
  const node = new MemoryNode();
  let revision = 1;
  node.put = async (key, value) => {
    revision++;
    return { kv: { key, value, createRevision: revision, modRevision: revision, version: 1, lease: 0 }, header: { revision, memberId: "m1", raftTerm: 2 } };
  };
  return node;
}
