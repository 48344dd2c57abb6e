// The rules by which the state machine judges comparisons (compare-and-swap
// and transactions) and the shape of a transaction's ops. Every member applies
// them to the same entries, so each must come out the same everywhere: pure
// functions of the command and the key as stored.
import {
  type CompareCommand,
  CompareCommand_Target,
  type TxnCompareCommand,
  TxnCompareCommand_Result,
  type TxnOpCommand,
} from "../gen/dkv/raft/v1/command_pb";
import { compareKeys } from "./key-order";
import type { KeyValue } from "./kv-store";

/** Why an op of a transaction cannot run (every member finds the same); undefined when it can. */
export function txnOpProblem({ op }: TxnOpCommand): string | undefined {
  switch (op.case) {
    case "put":
      return op.value.key.length === 0 ? "a put's key must not be empty" : undefined;
    case "delete":
      return op.value.key.length === 0 && !op.value.prefix ? "a delete's key must not be empty" : undefined;
    case "get":
      return op.value.length === 0 ? "a get's key must not be empty" : undefined;
    case "range":
      if (op.value.prefix) return op.value.rangeEnd === "" ? undefined : "a list takes a prefix or a range_end, not both";
      if (op.value.rangeEnd === "") return "a list needs a prefix or a range_end";
      return compareKeys(op.value.rangeEnd, op.value.key) > 0 ? undefined : "a list's range_end must be greater than its key";
    default:
      return "an op without an operation";
  }
}

/**
 * Whether a transaction's comparison holds (etcd's rules): a value compared
 * with a missing key never holds; numbers of a missing key are 0.
 * Undefined for a target or result this version does not know.
 */
export function txnCompares(compare: TxnCompareCommand, current: KeyValue | undefined): boolean | undefined {
  let order: number;
  switch (compare.target) {
    case CompareCommand_Target.VALUE:
      if (current === undefined) return knownResult(compare.result) ? false : undefined;
      order = Buffer.compare(current.value, compare.value);
      break;
    case CompareCommand_Target.VERSION:
      order = compareNumbers(current?.version ?? 0, compare.number);
      break;
    case CompareCommand_Target.MOD_REVISION:
      order = compareNumbers(current?.modRevision ?? 0, compare.number);
      break;
    case CompareCommand_Target.CREATE_REVISION:
      order = compareNumbers(current?.createRevision ?? 0, compare.number);
      break;
    case CompareCommand_Target.LEASE:
      order = compareNumbers(current?.lease ?? 0, compare.number);
      break;
    default:
      return undefined;
  }
  switch (compare.result) {
    case TxnCompareCommand_Result.EQUAL:
      return order === 0;
    case TxnCompareCommand_Result.NOT_EQUAL:
      return order !== 0;
    case TxnCompareCommand_Result.GREATER:
      return order > 0;
    case TxnCompareCommand_Result.LESS:
      return order < 0;
    default:
      return undefined;
  }
}

function knownResult(result: TxnCompareCommand_Result): boolean {
  return result >= TxnCompareCommand_Result.EQUAL && result <= TxnCompareCommand_Result.LESS;
}

function compareNumbers(actual: number, expected: bigint): number {
  const a = BigInt(actual);
  return a === expected ? 0 : a > expected ? 1 : -1;
}

/** Whether the comparison holds; undefined for a target this version does not know. */
export function compares(compare: CompareCommand, current: KeyValue | undefined): boolean | undefined {
  switch (compare.target) {
    case CompareCommand_Target.VALUE:
      // A missing key never equals any value (not even an empty one).
      return current !== undefined && bytesEqual(current.value, compare.value);
    case CompareCommand_Target.VERSION:
      return BigInt(current?.version ?? 0) === compare.number;
    case CompareCommand_Target.MOD_REVISION:
      return BigInt(current?.modRevision ?? 0) === compare.number;
    case CompareCommand_Target.CREATE_REVISION:
      return BigInt(current?.createRevision ?? 0) === compare.number;
    case CompareCommand_Target.LEASE:
      return BigInt(current?.lease ?? 0) === compare.number;
    default:
      return undefined;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  // Not through a.buffer: reading it gives a stored value an ArrayBuffer object of its own (see entry-cache.ts).
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

