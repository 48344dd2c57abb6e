// The ordered map the state machine keeps its keys in: sorted-btree's B+ tree
// (a well-kept package with no dependencies) because it has what a Map lacks
// and hand-written code would have to earn: ordered range scans, and clone()
// in O(1) with copy-on-write, which gives a snapshot a frozen view while
// writes go on.
//
// sorted-btree is CommonJS (exports.default = BTree, with __esModule). Bun
// 1.4.5 resolves a default import of it to the class under `bun run` but to
// the whole exports object in `bun build` output, so the class is taken from
// whichever of the two this is.
import * as sortedBtree from "sorted-btree";
import type BTreeClass from "sorted-btree";
import { compareKeys } from "./key-order";

type BTreeConstructor = typeof BTreeClass;
const imported = sortedBtree.default as unknown as BTreeConstructor | { default: BTreeConstructor };
const BTree: BTreeConstructor = "default" in imported ? imported.default : imported;

export type KeyTree<V> = BTreeClass<string, V>;

/** An empty tree ordered like etcd's keys (UTF-8 bytes). */
export function newKeyTree<V>(): KeyTree<V> {
  return new BTree<string, V>(undefined, compareKeys);
}
