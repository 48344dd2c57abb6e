// The raft log's rows, kept in one table per range of LOG_SEGMENT_ENTRIES
// indexes (log_0 holds 1..10000, log_1 10001..20000, ...), so that compaction
// drops whole tables instead of deleting rows.
//
// Why: deleting the first 100,000 rows of one table made SQLite rewrite every
// page it emptied (b-tree rebalancing) into the WAL: ~8,000 pages, then two
// 16-MiB checkpoints that held the event loop 45-130 ms each on every member at
// once. DROP TABLE puts the pages on the free list and writes ~10 pages
// (measured: 7,909 WAL frames against 10 for the same 102,000 entries).
//
// Compaction may leave rows at or below the compaction point in the segment
// that straddles it; they are never read (reads start after the compaction
// point) and go when their segment is dropped.

import type { Database, Statement } from "bun:sqlite";
import { assert } from "./errors";

/** Entries per segment table. Fixed by the schema: a database's layout depends on it. */
export const LOG_SEGMENT_ENTRIES = 10_000;
/** Rows fetched per query when reading a range (bounded memory; statements always run to completion). */
const READ_BATCH_ROWS = 256;

export interface LogRow {
  idx: number;
  term: number;
  type: number;
  data: Uint8Array;
}

/** The segment holding log index `index` (>= 1). */
export function segmentOf(index: number): number {
  return Math.floor((index - 1) / LOG_SEGMENT_ENTRIES);
}

/** Last log index a segment can hold. */
function segmentEnd(segment: number): number {
  return (segment + 1) * LOG_SEGMENT_ENTRIES;
}

export function segmentTableName(segment: number): string {
  assert(Number.isSafeInteger(segment) && segment >= 0, `bad log segment number ${segment}`);
  return `log_${segment}`;
}

export function createSegmentSql(segment: number): string {
  // idx is the rowid: appends go to the end of the b-tree, lookups are one seek.
  return `CREATE TABLE ${segmentTableName(segment)} (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL)`;
}

interface SegmentStatements {
  insert: Statement;
  selectRange: Statement;
  termAt: Statement;
  deleteFrom: Statement;
  bounds: Statement;
}

export class LogSegments {
  /** Segment numbers whose tables exist, ascending. */
  private present: number[] = [];
  private readonly statements = new Map<number, SegmentStatements>();

  constructor(private readonly db: Database) {
    this.load();
  }

  /** Re-reads which segment tables exist (at open, and after a snapshot install). */
  load(): void {
    this.finalizeAll();
    const rows = this.db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'log_[0-9]*'").all() as { name: string }[];
    this.present = rows
      .map((row) => Number(row.name.slice("log_".length)))
      .filter((n) => Number.isSafeInteger(n))
      .sort((a, b) => a - b);
  }

  /** Number of segment tables (tests and metrics). */
  count(): number {
    return this.present.length;
  }

  /** Inside a write transaction: stores one entry, creating its segment's table when needed. */
  insert(index: number, term: number, type: number, data: Uint8Array): void {
    this.statementsFor(segmentOf(index), true)!.insert.run(index, term, type, data);
  }

  /** Rows with index in [lo, hi), in order, read in bounded batches. Stops early when `take` returns false. */
  read(lo: number, hi: number, take: (row: LogRow) => boolean): void {
    for (let from = lo; from < hi; ) {
      const segment = segmentOf(from);
      const to = Math.min(hi, segmentEnd(segment) + 1);
      const statements = this.statementsFor(segment, false);
      if (statements === undefined) return;
      const rows = statements.selectRange.all(from, to, READ_BATCH_ROWS) as LogRow[];
      for (const row of rows) if (!take(row)) return;
      // A short batch ends the segment's rows in range (the caller checks that they were contiguous).
      from = rows.length < READ_BATCH_ROWS ? to : rows[rows.length - 1]!.idx + 1;
    }
  }

  termAt(index: number): number | undefined {
    const row = this.statementsFor(segmentOf(index), false)?.termAt.get(index) as { term: number } | null | undefined;
    return row?.term ?? undefined;
  }

  /** Count, smallest and largest index of the rows above `after` (rows at or below it are leftovers of compaction). */
  boundsAbove(after: number): { n: number; lo: number | null; hi: number | null } {
    let n = 0;
    let lo: number | null = null;
    let hi: number | null = null;
    for (const segment of this.present) {
      if (segmentEnd(segment) <= after) continue;
      const b = this.statementsFor(segment, false)!.bounds.get(after) as { n: number; lo: number | null; hi: number | null };
      if (b.n === 0) continue;
      n += b.n;
      lo ??= b.lo;
      hi = b.hi;
    }
    return { n, lo, hi };
  }

  /** Inside a write transaction: removes every entry at or after `index`. */
  deleteFrom(index: number): void {
    const first = segmentOf(index);
    for (const segment of [...this.present]) {
      if (segment > first) this.drop(segment);
      else if (segment === first) this.statementsFor(segment, false)!.deleteFrom.run(index);
    }
  }

  /** Inside a write transaction: drops every segment that holds nothing after `index`. */
  dropThrough(index: number): void {
    for (const segment of [...this.present]) if (segmentEnd(segment) <= index) this.drop(segment);
  }

  /** Inside a write transaction: drops every segment. */
  dropAll(): void {
    for (const segment of [...this.present]) this.drop(segment);
  }

  private drop(segment: number): void {
    this.finalize(segment);
    this.db.run(`DROP TABLE ${segmentTableName(segment)}`);
    this.present = this.present.filter((s) => s !== segment);
  }

  private statementsFor(segment: number, create: boolean): SegmentStatements | undefined {
    let statements = this.statements.get(segment);
    if (statements !== undefined) return statements;
    if (!this.present.includes(segment)) {
      if (!create) return undefined;
      assert(this.db.inTransaction, `log segment ${segment} created outside a transaction`);
      this.db.run(createSegmentSql(segment));
      this.present = [...this.present, segment].sort((a, b) => a - b);
    }
    const table = segmentTableName(segment);
    statements = {
      insert: this.db.prepare(`INSERT INTO ${table} (idx, term, type, data) VALUES (?, ?, ?, ?)`),
      selectRange: this.db.prepare(`SELECT idx, term, type, data FROM ${table} WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT ?`),
      termAt: this.db.prepare(`SELECT term FROM ${table} WHERE idx = ?`),
      deleteFrom: this.db.prepare(`DELETE FROM ${table} WHERE idx >= ?`),
      bounds: this.db.prepare(`SELECT COUNT(*) AS n, MIN(idx) AS lo, MAX(idx) AS hi FROM ${table} WHERE idx > ?`),
    };
    this.statements.set(segment, statements);
    return statements;
  }

  private finalize(segment: number): void {
    const statements = this.statements.get(segment);
    if (statements === undefined) return;
    for (const statement of Object.values(statements)) statement.finalize();
    this.statements.delete(segment);
  }

  private finalizeAll(): void {
    for (const segment of [...this.statements.keys()]) this.finalize(segment);
  }
}

/**
 * Schema 2 -> 3, inside the migration's transaction: moves the rows of the
 * single `log` table into segment tables.
 */
export function splitLogTableIntoSegments(db: Database): void {
  const exists = db.query("SELECT 1 AS one FROM sqlite_schema WHERE type = 'table' AND name = 'log'").get();
  if (exists === null) return;
  const bounds = db.query("SELECT MIN(idx) AS lo, MAX(idx) AS hi FROM log").get() as { lo: number | null; hi: number | null };
  if (bounds.lo !== null && bounds.hi !== null) {
    for (let segment = segmentOf(bounds.lo); segment <= segmentOf(bounds.hi); segment++) {
      db.run(createSegmentSql(segment));
      const copy = db.prepare(`INSERT INTO ${segmentTableName(segment)} (idx, term, type, data) SELECT idx, term, type, data FROM log WHERE idx > ? AND idx <= ? ORDER BY idx`);
      copy.run(segment * LOG_SEGMENT_ENTRIES, segmentEnd(segment));
      copy.finalize();
    }
  }
  db.run("DROP TABLE log");
}
