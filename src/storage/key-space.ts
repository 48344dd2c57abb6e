// The keys of the state machine: a Map for point reads and writes, and the
// names alone in an ordered B+ tree (sorted-btree, a well-kept package with no
// dependencies) for range scans, touched only when a key is created or
// deleted. A put to an existing key - the common write - costs two Map
// operations: in the put benchmark, a tree holding the values cost the
// leader ~7% and a follower ~16% of its CPU in binary searches.
//
// A snapshot image is written from a frozen view while writes go on: the
// name tree's clone() is O(1) copy-on-write, and until the view is released
// each write first saves the value it replaces (once per key), so the view
// reads every key as it was when frozen.
//
// sorted-btree is CommonJS (exports.default = BTree, with __esModule). Bun
// 1.4.5 resolves a default import of it to the class under `bun run` but to
// the whole exports object in `bun build` output, so the class is taken from
// whichever of the two this is.
import * as sortedBtree from "sorted-btree";
import type BTreeClass from "sorted-btree";
import type { KeyValue } from "./kv-store";
import { compareKeys } from "./key-order";

type BTreeConstructor = typeof BTreeClass;
const imported = sortedBtree.default as unknown as BTreeConstructor | { default: BTreeConstructor };
const BTree: BTreeConstructor = "default" in imported ? imported.default : imported;

type NameTree = BTreeClass<string, undefined>;

/** Keys in UTF-8 byte order, as a snapshot image writes them. */
export interface OrderedKeys {
  readonly size: number;
  values(): IterableIterator<KeyValue>;
}

/** A view of the keys as they were when frozen; release() it when done. */
export interface FrozenKeys extends OrderedKeys {
  release(): void;
}

interface Freeze {
  /** The value each key written since the freeze had then (undefined: absent). */
  readonly before: Map<string, KeyValue | undefined>;
}

export class KeySpace implements OrderedKeys {
  private readonly byName = new Map<string, KeyValue>();
  private readonly names: NameTree = new BTree<string, undefined>(undefined, compareKeys);
  private readonly freezes = new Set<Freeze>();
  private dataBytes = 0;

  get size(): number {
    return this.byName.size;
  }

  /** UTF-8 bytes of every key plus the bytes of every value (what a quota counts). */
  get bytes(): number {
    return this.dataBytes;
  }

  /** How many bytes `bytes` would grow by if `key` got a value of valueBytes (negative: shrink). */
  growthIfSet(key: string, valueBytes: number): number {
    const previous = this.byName.get(key);
    return previous === undefined ? Buffer.byteLength(key, "utf8") + valueBytes : valueBytes - previous.value.byteLength;
  }

  get(key: string): KeyValue | undefined {
    return this.byName.get(key);
  }

  /** Sets key; pass `previous` when the caller has just read it (get(key)) to save a second lookup. */
  set(key: string, kv: KeyValue, previous: KeyValue | undefined = this.byName.get(key)): void {
    if (this.freezes.size > 0) this.saveForFreezes(key, previous);
    this.byName.set(key, kv);
    if (previous === undefined) {
      this.names.set(key, undefined);
      this.dataBytes += Buffer.byteLength(key, "utf8") + kv.value.byteLength;
    } else {
      this.dataBytes += kv.value.byteLength - previous.value.byteLength;
    }
  }

  /** False when there was no such key. */
  delete(key: string): boolean {
    const previous = this.byName.get(key);
    if (previous === undefined) return false;
    if (this.freezes.size > 0) this.saveForFreezes(key, previous);
    this.byName.delete(key);
    this.names.delete(key);
    this.dataBytes -= Buffer.byteLength(key, "utf8") + previous.value.byteLength;
    return true;
  }

  /** Keys from `start` (inclusive) on, in order. */
  *from(start: string): IterableIterator<KeyValue> {
    for (const name of this.names.keys(start)) yield this.byName.get(name)!;
  }

  /** How many keys from `start` on are in range (stops at the first that is not): names only, no values looked up. */
  countFrom(start: string, inRange: (key: string) => boolean): number {
    let count = 0;
    for (const name of this.names.keys(start)) {
      if (!inRange(name)) break;
      count++;
    }
    return count;
  }

  values(): IterableIterator<KeyValue> {
    return this.from("");
  }

  freeze(): FrozenKeys {
    const freeze: Freeze = { before: new Map() };
    this.freezes.add(freeze);
    const names = this.names.clone();
    const byName = this.byName;
    return {
      size: this.byName.size,
      // The cloned tree never changes, so its iterator stays valid across pauses.
      *values() {
        for (const name of names.keys()) yield freeze.before.has(name) ? freeze.before.get(name)! : byName.get(name)!;
      },
      release: () => {
        this.freezes.delete(freeze);
      },
    };
  }

  private saveForFreezes(key: string, previous: KeyValue | undefined): void {
    for (const freeze of this.freezes) if (!freeze.before.has(key)) freeze.before.set(key, previous);
  }
}
