import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRecordReader } from '../../../lib/parse/reader.ts';
import type { RejectedRecord } from '../../../lib/parse/sink.ts';
import { findRecordStart } from '../../../lib/process/boundary.ts';
import { salesLayout } from '../parse/readRecords.ts';

/**
 * Stray quotes in files split into partitions as the processor splits them: each partition's
 * ends moved to record starts by findRecordStart, each read by the record reader in random chunks.
 * The expectation comes from the generator, not from a parser: which lines it damaged.
 */

const HEADER = 'ts,region,product,amount,quantity\n';
const MAX_RECORD_BYTES = 256;
const layout = salesLayout;

interface Line {
  readonly fields: string[];
  /** The product, unique per line: which line an accepted record is. */
  readonly id: string;
}

/** A good line i: quote-free, or (quoted) with a quoted region holding a comma. */
function goodLine(i: number, quoted: boolean): Line {
  const id = `p${i}`;
  const region = quoted ? `"r${i % 7}, east"` : `r${i % 7}`;
  return { id, fields: [`2024-01-${String(1 + (i % 28)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:00:00Z`, region, id, String(i * 3 - 100), String(i % 5)] };
}

/** Inserts a quote into field f of a line: at its start (opening a quoted field), inside it, or at its end. */
function withStrayQuote(line: Line, f: number, where: 'start' | 'inside' | 'end'): string {
  const fields = [...line.fields];
  const v = fields[f];
  fields[f] = where === 'start' ? `"${v}` : where === 'end' ? `${v}"` : `${v.slice(0, 1)}"${v.slice(1)}`;
  return fields.join(',');
}

const stray = fc.record({ f: fc.integer({ min: 0, max: 4 }), where: fc.constantFrom('start' as const, 'inside' as const, 'end' as const) });

/** Partition cut points as the planner makes them: at least 2 · maxRecordBytes apart (boundary.ts). */
function cutPoints(size: number, dataStart: number, gaps: readonly number[]): number[] {
  const cuts = [dataStart];
  for (const gap of gaps) {
    const next = cuts[cuts.length - 1] + 2 * MAX_RECORD_BYTES + 1 + gap;
    if (next >= size) break;
    cuts.push(next);
  }
  return [...cuts, size];
}

/** Reads every partition of an object as processPartition does; returns what each reader gave. */
async function readPartitioned(bytes: Buffer, cuts: readonly number[], chunk: number) {
  const read = async (start: number, end: number) => bytes.subarray(start, end);
  const options = { format: 'csv' as const, objectSize: bytes.length, dataStart: HEADER.length, maxRecordBytes: MAX_RECORD_BYTES, windowBytes: 64 };
  const bounds = await Promise.all(cuts.map((at) => findRecordStart(read, at, options)));
  const accepted: { id: string; dims: string[]; metrics: number[]; timeMs: number }[] = [];
  const rejected: RejectedRecord[] = [];
  let records = 0;
  let rejectedCount = 0;
  for (let p = 0; p + 1 < bounds.length; p++) {
    const start = bounds[p];
    const end = Math.max(start, bounds[p + 1]);
    const reader = createRecordReader(
      layout,
      {
        accept: (timeMs, dims, metrics) => accepted.push({ id: dims[1], dims: [...dims], metrics: [...metrics], timeMs }),
        reject: (r) => rejected.push(r),
      },
      { baseOffset: start, maxRecordBytes: MAX_RECORD_BYTES },
    );
    for (let at = start; at < end; at += chunk) reader.push(bytes.subarray(at, Math.min(end, at + chunk)));
    const stats = reader.end();
    records += stats.records;
    rejectedCount += stats.rejected;
  }
  return { accepted, rejected, records, rejectedCount, bounds };
}

describe('stray quotes in partitioned CSV', () => {
  it('cost exactly their own line, whatever the partitioning and chunking: every other record read once, exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 40, max: 160 }),
        // Stray quotes on lines at least this many lines apart: a line is < 60 bytes, so an open
        // quote reaches its record limit before the next stray quote could close it.
        fc.array(fc.record({ gap: fc.integer({ min: Math.ceil(MAX_RECORD_BYTES / 40) + 1, max: 30 }), stray }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 900 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 700 }),
        async (count, strays, gaps, chunk) => {
          // Prepare
          const lines = Array.from({ length: count }, (_, i) => goodLine(i, false));
          const damaged = new Map<number, string>();
          let at = -1;
          for (const s of strays) {
            at += s.gap;
            if (at >= count) break;
            damaged.set(at, withStrayQuote(lines[at], s.stray.f, s.stray.where));
          }
          const texts = lines.map((l, i) => damaged.get(i) ?? l.fields.join(','));
          const bytes = Buffer.from(HEADER + texts.map((t) => `${t}\n`).join(''));
          const offsets = texts.map((_, i) => HEADER.length + texts.slice(0, i).reduce((n, t) => n + t.length + 1, 0));

          // Act
          const got = await readPartitioned(bytes, cutPoints(bytes.length, HEADER.length, gaps), chunk);

          // Assess: the good lines, each once, with the values written; the damaged ones rejected at their offsets.
          const good = lines.filter((_, i) => !damaged.has(i));
          expect(got.accepted.map((a) => a.id).sort()).toEqual(good.map((l) => l.id).sort());
          for (const a of got.accepted) {
            const line = lines[Number(a.id.slice(1))];
            expect(a.dims).toEqual([line.fields[1], line.fields[2]]);
            expect(a.metrics).toEqual([Number(line.fields[3]), Number(line.fields[4])]);
            expect(a.timeMs).toBe(Date.parse(line.fields[0]));
          }
          expect(got.rejected.map((r) => r.offset).sort((x, y) => x - y)).toEqual([...damaged.keys()].sort((x, y) => x - y).map((i) => offsets[i]));
          expect(got.rejected.every((r) => /^field "(ts|region|product|amount|quantity)": /.test(r.reason))).toBe(true);
          expect(got.records).toBe(count);
          expect(got.records - got.rejectedCount).toBe(got.accepted.length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('with quoted fields and stray quotes anywhere: no record read twice or invented, totals add up, records far from a quote all read', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 40, maxLength: 160 }),
        fc.array(fc.record({ line: fc.nat(), stray }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 0, max: 900 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 700 }),
        async (quoted, strays, gaps, chunk) => {
          // Prepare
          const lines = quoted.map((q, i) => goodLine(i, q));
          const damaged = new Map<number, string>();
          for (const s of strays) {
            const i = s.line % lines.length;
            damaged.set(i, withStrayQuote(lines[i], s.stray.f, s.stray.where));
          }
          const texts = lines.map((l, i) => damaged.get(i) ?? l.fields.join(','));
          const bytes = Buffer.from(HEADER + texts.map((t) => `${t}\n`).join(''));
          const offsets = texts.map((_, i) => HEADER.length + texts.slice(0, i).reduce((n, t) => n + t.length + 1, 0));

          // Act
          const got = await readPartitioned(bytes, cutPoints(bytes.length, HEADER.length, gaps), chunk);

          // Assess: an accepted record is an undamaged line exactly, or two stray quotes made a
          // valid quoted field of the bytes between them (RFC 4180 cannot tell), so it holds
          // damaged text: a damaged line's id, or a line break inside a field.
          const exact = (a: (typeof got.accepted)[number], i: number) =>
            lines[i] !== undefined &&
            !damaged.has(i) &&
            a.dims[0] === lines[i].fields[1].replaceAll('"', '') &&
            a.dims[1] === lines[i].fields[2] &&
            a.metrics[0] === Number(lines[i].fields[3]) &&
            a.metrics[1] === Number(lines[i].fields[4]);
          const ids = got.accepted.filter((a) => exact(a, Number(a.id.slice(1)))).map((a) => a.id);
          expect(new Set(ids).size).toBe(ids.length);
          for (const a of got.accepted) {
            const i = /^p\d+$/.test(a.id) ? Number(a.id.slice(1)) : -1;
            if (!exact(a, i)) expect({ i, damaged: damaged.has(i) || a.dims.some((d) => d.includes('\n')) }).toEqual({ i, damaged: true });
          }
          expect(got.records - got.rejectedCount).toBe(got.accepted.length);
          // A stray quote's damage ends within its record limit, and a boundary's choice within 2 · maxRecordBytes.
          const reach = 4 * MAX_RECORD_BYTES;
          const damagedOffsets = [...damaged.keys()].map((i) => offsets[i]);
          const far = lines.filter((_, i) => !damaged.has(i) && damagedOffsets.every((d) => offsets[i] < d || offsets[i] > d + reach));
          for (const line of far) expect(ids).toContain(line.id);
        },
      ),
      { numRuns: 150 },
    );
  });
});
