/**
 * Generated uploads for the pipeline tests: CSV and NDJSON files with the awkward parts real
 * exports have (a BOM, CRLF, quoted separators and line breaks, empty cells, bad rows), and what
 * the generator knows about each bad row (its physical line, byte offset, text and the field the
 * reason must name). Seeded, so a failing run reproduces.
 */

import { prng } from '../../../localstack/demo/sampleData.ts';

/** A record as the tests compute aggregates from it: dimension values by name, metrics by name (undefined: missing). */
export interface FlatRecord {
  readonly timeMs: number;
  readonly dims: Readonly<Record<string, string>>;
  readonly metrics: Readonly<Record<string, number | undefined>>;
}

/** A row the pipeline must reject, as written. */
export interface BadRow {
  /** 1-based physical line the row starts on (the header is line 1). */
  readonly line: number;
  /** Byte offset of the row in the object (a BOM counts). */
  readonly offset: number;
  /** The row's text without its line end. */
  readonly raw: string;
  /** Text the reject reason must contain (the field it names, or the field count). */
  readonly reasonNames: string;
}

export interface GeneratedFile {
  readonly bytes: Buffer;
  /** Good records as the generator wrote them. */
  readonly good: readonly FlatRecord[];
  readonly bad: readonly BadRow[];
}

const pick = <T>(random: () => number, values: readonly T[]): T => values[Math.floor(random() * values.length)];

/** `count` distinct row indexes below `total`, drawn from `random`: where the bad rows go. */
function badRowIndexes(random: () => number, total: number, count: number): Set<number> {
  const at = new Set<number>();
  while (at.size < count) at.add(Math.floor(random() * total));
  return at;
}

/** An object being written: the byte offset and the 1-based physical line the next text starts at. */
function objectWriter() {
  const pieces: string[] = [];
  const out = {
    offset: 0,
    line: 1,
    write(text: string): void {
      pieces.push(text);
      out.offset += Buffer.byteLength(text);
      out.line += text.split('\n').length - 1;
    },
    bytes: (): Buffer => Buffer.from(pieces.join('')),
  };
  return out;
}

const DAY_MS = 86_400_000;
/** 2024-03-01 (a Friday): three weeks from here cross several Monday week starts. */
const FIRST_DAY_MS = Date.UTC(2024, 2, 1);

/** The CSV columns, in file order: `note` is in the file but not in the dataset. */
export const CSV_COLUMNS = ['ts', 'region', 'note', 'product', 'amount', 'quantity'] as const;

const REGIONS = ['north', 'south', 'east', 'west', ''];
const PRODUCTS = ['Widget', 'Widget, large', 'Gadget\nv2', 'Say "hi"', 'Line1\r\nLine2', 'Ünïcødé ✓', ''];
const NOTES = ['', 'ok', 'gift, wrapped', 'said "thanks"', 'two\nlines'];

/** A CSV field as a quoting writer writes it. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * An ISO 8601 text of about `timeMs` in one of the forms both parsers read alike, and the instant
 * it stands for (whole seconds when the form has no fraction).
 */
function isoTime(random: () => number, timeMs: number): { text: string; timeMs: number } {
  const form = random();
  if (form < 0.5) return { text: new Date(timeMs).toISOString(), timeMs };
  const seconds = Math.floor(timeMs / 1000) * 1000;
  if (form < 0.8) return { text: new Date(seconds).toISOString().replace(/\.\d{3}Z$/, 'Z'), timeMs: seconds };
  // A zone offset, which can move the record into another day or week than its wall time says.
  const offsetMinutes = pick(random, [120, -300, 330, -30]);
  const wall = new Date(seconds + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return { text: `${wall}${offsetMinutes < 0 ? '-' : '+'}${hh}:${mm}`, timeMs: seconds };
}

export interface CsvOptions {
  readonly records: number;
  readonly seed: number;
  /** Bad rows among the records, of every kind in turn. @default 0 */
  readonly badRows?: number;
  /** @default true */
  readonly bom?: boolean;
  /** @default '\r\n' */
  readonly lineEnd?: '\r\n' | '\n';
  /** Blank lines scattered among the rows. @default 0 */
  readonly blankLines?: number;
  /** @default true */
  readonly finalLineEnd?: boolean;
  /** `hot`: every record in a handful of cells (two regions, one product, two hours). @default 'spread' */
  readonly cells?: 'spread' | 'hot';
}

/**
 * A CSV upload: header `ts,region,note,product,amount,quantity`, good records spread over three weeks
 * (or a few hot cells), amounts with cents (some negative, some empty), integer quantities (some
 * empty), and bad rows of each kind: too few fields, too many, an unparsable number in either
 * metric, an impossible or unreadable timestamp, an empty time.
 */
export function generateCsv(options: CsvOptions): GeneratedFile {
  const random = prng(options.seed);
  const lineEnd = options.lineEnd ?? '\r\n';
  const hot = options.cells === 'hot';
  const total = options.records + (options.badRows ?? 0);
  const badAt = badRowIndexes(random, total, options.badRows ?? 0);
  const blankAt = new Set<number>();
  while (blankAt.size < (options.blankLines ?? 0)) blankAt.add(1 + Math.floor(random() * (total - 1)));

  const out = objectWriter();
  const write = out.write;
  if (options.bom ?? true) write('\uFEFF');
  write(CSV_COLUMNS.join(',') + lineEnd);

  const good: FlatRecord[] = [];
  const bad: BadRow[] = [];
  let badKind = 0;
  for (let i = 0; i < total; i++) {
    if (blankAt.has(i)) write(lineEnd);
    const time = isoTime(
      random,
      hot ? Date.UTC(2024, 2, 4, 10) + Math.floor(random() * 2 * 3_600_000) : FIRST_DAY_MS + Math.floor(random() * 21 * DAY_MS),
    );
    const row = {
      ts: time.text,
      region: hot ? pick(random, ['north', 'south']) : pick(random, REGIONS),
      note: pick(random, NOTES),
      product: hot ? 'Widget' : pick(random, PRODUCTS),
      amount: random() < 0.05 ? '' : ((random() < 0.1 ? -1 : 1) * Math.floor(random() * 100_000) / 100).toFixed(2),
      quantity: random() < 0.1 ? '' : String(1 + Math.floor(random() * 20)),
    };
    let fields = CSV_COLUMNS.map((c) => csvField(row[c]));
    let reasonNames = '';
    if (badAt.has(i)) {
      switch (badKind++ % 7) {
        case 0:
          fields = fields.slice(0, 5);
          reasonNames = 'expected 6 fields, found 5';
          break;
        case 1:
          fields = [...fields, 'extra'];
          reasonNames = 'expected 6 fields, found 7';
          break;
        case 2:
          fields[4] = '12x';
          reasonNames = 'field "amount"';
          break;
        case 3:
          fields[5] = 'many';
          reasonNames = 'field "quantity"';
          break;
        case 4:
          fields[0] = '2024-03-04T25:00:00Z';
          reasonNames = 'field "ts"';
          break;
        case 5:
          fields[0] = 'yesterday';
          reasonNames = 'field "ts"';
          break;
        default:
          fields[0] = '';
          reasonNames = 'field "ts"';
      }
    }
    const text = fields.join(',');
    if (reasonNames) bad.push({ line: out.line, offset: out.offset, raw: text, reasonNames });
    else good.push(csvRecord(row, time.timeMs));
    write(i === total - 1 && options.finalLineEnd === false ? text : text + lineEnd);
  }
  return { bytes: out.bytes(), good, bad };
}

function csvRecord(row: Record<(typeof CSV_COLUMNS)[number], string>, timeMs: number): FlatRecord {
  return {
    timeMs,
    dims: { region: row.region, product: row.product },
    metrics: {
      amount: row.amount === '' ? undefined : Number(row.amount),
      quantity: row.quantity === '' ? undefined : Number(row.quantity),
    },
  };
}

export interface NdjsonOptions {
  readonly records: number;
  readonly seed: number;
  readonly badRows?: number;
}

/**
 * An NDJSON upload (UTF-8 BOM, LF and CRLF line ends, a blank line): `ts` in epoch seconds as a
 * number (some fractional) or a numeric string, `region` a string or null, `store` a number,
 * `amount` a number, a numeric string or null, `qty` a number or absent. Bad rows: invalid JSON,
 * an array, a non-numeric amount, a missing time, a time that is not a number.
 */
export function generateNdjson(options: NdjsonOptions): GeneratedFile {
  const random = prng(options.seed);
  const total = options.records + (options.badRows ?? 0);
  const badAt = badRowIndexes(random, total, options.badRows ?? 0);
  const out = objectWriter();
  const write = out.write;
  write('\uFEFF');
  const good: FlatRecord[] = [];
  const bad: BadRow[] = [];
  let badKind = 0;
  for (let i = 0; i < total; i++) {
    if (i === Math.floor(total / 2)) write('\n');
    const seconds = Math.floor((FIRST_DAY_MS + Math.floor(random() * 14 * DAY_MS)) / 1000) + (random() < 0.2 ? 0.5 : 0);
    const region = random() < 0.1 ? null : pick(random, ['north', 'south', 'east', 'Zürich "HQ"', 'multi\nline']);
    const store = 1 + Math.floor(random() * 4);
    const amountValue = Math.floor(random() * 50_000) / 100;
    const amountForm = random();
    const amount = amountForm < 0.08 ? null : amountForm < 0.3 ? amountValue.toFixed(2) : amountValue;
    const qty = random() < 0.15 ? undefined : 1 + Math.floor(random() * 9);
    const object: Record<string, unknown> = {
      ts: random() < 0.2 ? String(seconds) : seconds,
      region,
      store,
      amount,
      ...(qty === undefined ? {} : { qty }),
    };
    let text = JSON.stringify(object);
    let reasonNames = '';
    if (badAt.has(i)) {
      switch (badKind++ % 5) {
        case 0:
          text = text.slice(0, text.length - 3);
          reasonNames = 'invalid JSON';
          break;
        case 1:
          text = JSON.stringify([seconds, region]);
          reasonNames = 'expected a JSON object';
          break;
        case 2:
          text = JSON.stringify({ ...object, amount: 'lots' });
          reasonNames = 'field "amount"';
          break;
        case 3:
          text = JSON.stringify({ ...object, ts: undefined });
          reasonNames = 'field "ts"';
          break;
        default:
          text = JSON.stringify({ ...object, ts: 'soon' });
          reasonNames = 'field "ts"';
      }
    }
    if (reasonNames) {
      bad.push({ line: out.line, offset: out.offset, raw: text, reasonNames });
    } else {
      good.push({
        timeMs: seconds * 1000,
        dims: { region: region ?? '', store: String(store) },
        metrics: { amount: amount === null ? undefined : Number(amount), qty },
      });
    }
    write(text + (random() < 0.3 ? '\r\n' : '\n'));
  }
  return { bytes: out.bytes(), good, bad };
}
