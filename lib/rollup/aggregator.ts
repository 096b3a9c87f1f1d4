import { DatasetDefinitionError, rollupKey, type DatasetDefinition } from '../datasets/definition.ts';
import { BUCKET_ORIGIN_MS, bucketStart, parseGranularity } from './granularity.ts';
import { PairTable } from './pairTable.ts';
import { SKETCH_MAX_BUCKET, sketchBucket, sketchBucketName, type SketchJson } from './sketch.ts';

/**
 * Rolls records up into cells: for every rollup of a dataset, one cell per time bucket and
 * combination of that rollup's dimension values, holding each metric's moments and sketch.
 * Cells from different partitions merge in Postgres into the same totals this would give for the
 * whole input.
 */

/** A cell's mergeable statistics: moments and a DDSketch, whatever the cell's identity. */
export interface CellStatistics {
  /** Values present; 0 when every record of the cell lacked this metric. */
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
  mean: number;
  /** Σ (x − mean)²: merge with Chan et al.'s formula; sample variance is m2 / (count − 1). */
  m2: number;
  sketch: SketchJson;
}

/** One metric's summary in one bucket of one rollup, as the store merges it into Postgres. */
export interface RollupCell extends CellStatistics {
  /** The rollup's identity, rollupKey(its dimensions): '' for the total. */
  rollup: string;
  bucketStart: number;
  /** The rollup's dimension values, in the rollup's order ('' for a missing value). */
  dims: string[];
  metric: string;
}

/** Accumulates records into rollup cells; its memory grows with the cells, not the records. */
export interface RollupAggregator {
  /** Adds one record, with the arguments of RecordSink.accept (dims and metrics in definition order). */
  add(timeMs: number, dims: readonly string[], metrics: Float64Array): void;
  /**
   * Every cell so far: one per rollup, bucket, combination of dimension values and metric, by
   * rollup (definition order), then bucket start, then first seen.
   */
  cells(): RollupCell[];
  /** Every group so far with all its metrics, lazily, in the order of cells(); see RollupGroup. */
  groups(): Iterable<RollupGroup>;
  /** The number of cells, i.e. `cells().length`. */
  readonly size: number;
}

/** Statistics per metric in RollupGroup.stats: count, sum, min, max, mean, m2. */
export const GROUP_STATS = 6;

/**
 * One group — a rollup, a time bucket and a combination of dimension values — with every metric's
 * statistics: how partial aggregates are stored, one row per group.
 *
 * A group of at most one value per metric (most groups at high cardinality, where a group sees one
 * or two records) comes in a single-value form: its values and their sketch buckets, 8 doubles for
 * 4 metrics where the full form takes 24 and four JSON sketches, which Postgres then no longer
 * parses (see migration 18 and rollups.ts partialPieces, which expands it).
 */
export interface RollupGroup {
  readonly rollup: string;
  readonly bucketStart: number;
  /** The same array for every group of one combination of values: do not change it. */
  readonly dims: readonly string[];
  /**
   * Full form (sketches not null): metric m (definition order) at GROUP_STATS·m: count, sum, min,
   * max, mean, m2; min and max are NaN when the count is 0. Single-value form (sketches null), for
   * M metrics: metric m's value at m (NaN: none) and its sketch bucket (sketchBucket) at M + m.
   */
  readonly stats: Float64Array;
  /**
   * The metrics' sketches (SketchJson) as the text of one JSON array, in metric order, in ASCII
   * bytes (what COPY sends); null in the single-value form.
   */
  readonly sketches: Uint8Array | null;
}

/**
 * Per cell (one group × one metric), 8 doubles = 16 int32 in one buffer viewed both ways, so an
 * update touches one 64-byte record: doubles 0–5 the moments (count, sum, min, max, mean, m2),
 * int32 12–14 its sketch's table (offset in the pool, mask, bins used). A cell's double slots are
 * at `c * CELL_DOUBLES + slot` in the Float64Array, its int32 slots at `c * CELL_INTS + slot` in
 * the Int32Array (double slot d covers int32 slots 2d and 2d + 1).
 */
const CELL_DOUBLES = 8;
const CELL_INTS = 2 * CELL_DOUBLES;
// Double slots: the moments.
const COUNT = 0;
const SUM = 1;
const MIN = 2;
const MAX = 3;
const MEAN = 4;
const M2 = 5;
// Int32 slots (inside doubles 6–7): the cell's sketch table in the pool.
const SKETCH_OFFSET = 12;
const SKETCH_MASK = 13;
const SKETCH_USED = 14;

/**
 * Sketch bins are kept in one Int32Array pool, each cell's bins in its own open-addressing table
 * of (stored bucket, count) pairs with a power-of-two number of slots, indexed by the stored bucket
 * itself: a sketch's buckets are mostly consecutive integers, so they land without collisions.
 * The stored bucket is sketchBucket(v) + BUCKET_OFFSET, always positive, so 0 marks an empty slot
 * and the zero bucket is a bin like the others. Slots 0–1 of the pool are a shared empty table
 * (mask 0) for cells without values yet.
 */
const BUCKET_OFFSET = 131072;
if (SKETCH_MAX_BUCKET >= BUCKET_OFFSET) throw new Error('sketch buckets exceed the aggregator bucket offset');
const FIRST_TABLE_SLOTS = 2;
const MAX_FIRST_TABLE_SLOTS = 1024;
/** Entries (4 bytes each) of the dense group rows before the size test for a PairTable (16 MB). */
const DENSE_ENTRIES = 1 << 22;

/**
 * Copies a string into its own storage. V8 may represent a substring as a slice of its parent
 * (e.g. a whole decoded chunk); keeping such a slice would keep the chunk alive, and memory would
 * grow with the input instead of the cells. Concatenating then slicing flattens a copy.
 */
function ownCopy(s: string): string {
  return (' ' + s).slice(1);
}

// Serialised bin names by stored bucket, made once per process.
const binNames: string[] = [];
// The same as JSON object keys, `"p70":`, as ASCII bytes for sketch texts.
const binTokens: Uint8Array[] = [];

function binToken(stored: number): Uint8Array {
  return (binTokens[stored] ??= Buffer.from(`"${binName(stored)}":`, 'latin1'));
}

/**
 * Sorts the first `n` numbers ascending: insertion sort for the few bins most cells have, the
 * typed array's own numeric sort (no comparator calls) past 16.
 */
function sortBins(xs: Float64Array, n: number): void {
  if (n > 16) {
    xs.subarray(0, n).sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const x = xs[i];
    let j = i;
    for (; j > 0 && xs[j - 1] > x; j--) xs[j] = xs[j - 1];
    xs[j] = x;
  }
}

/** Writes a non-negative integer's decimal digits at `at`; returns the position after them. */
function writeDigits(out: Uint8Array, at: number, x: number): number {
  if (x < 10) {
    out[at] = 0x30 + x;
    return at + 1;
  }
  let digits = 0;
  for (let y = x; y >= 1; y = Math.floor(y / 10)) digits++;
  for (let i = at + digits - 1; i >= at; i--) {
    const q = Math.floor(x / 10);
    out[i] = 0x30 + (x - 10 * q);
    x = q;
  }
  return at + digits;
}

function binName(stored: number): string {
  return (binNames[stored] ??= sketchBucketName(stored - BUCKET_OFFSET));
}

/**
 * Creates an aggregator for a dataset's rollups and granularity.
 *
 * Layout (for cache locality when records arrive in no time order): each dimension value gets a
 * small integer id; each rollup's combination of value ids a combination id; each (time bucket,
 * combination) a group id, found with one load from a dense row per combination (one probe of a
 * flat hash table when there are too many combinations); the cells of a group are consecutive
 * 64-byte records in one Float64Array; sketch bins live in one Int32Array pool. An update of a
 * cell touches its record and one slot of its sketch's table; updates are staged and applied in
 * batches (see flush), so cells() — the returned one — applies the staged updates first. Nothing
 * is allocated per record except when a cell appears or a sketch table grows. Throws RangeError for a time or metric
 * that is not finite (NaN metrics are missing values), which the parser should have rejected.
 *
 * @example
 * const aggregator = createRollupAggregator(definition); // dimensions [region, sku], metrics [amount]
 * aggregator.add(Date.parse('2024-05-01T10:30:00Z'), ['eu', 'sku-1'], new Float64Array([12.5]));
 * aggregator.cells(); // one cell per rollup: [region], [sku] and the total, for the 10:00 bucket
 */
export function createRollupAggregator(def: DatasetDefinition): RollupAggregator {
  const granularity = parseGranularity(def.granularity);
  const width = granularity.ms;
  const metricCount = def.metrics.length;
  const plans = def.rollups.map((rollup, r) =>
    Int32Array.from(rollup, (dim, l) => {
      const d = def.dimensions.indexOf(dim);
      if (d < 0) throw new DatasetDefinitionError([`rollups[${r}][${l}]: "${dim}" is not one of the dimensions`]);
      return d;
    }),
  );
  const rollupCount = plans.length;
  const rollupKeys = def.rollups.map(rollupKey);

  // Dimension values → ids, per dimension; only the dimensions some rollup uses.
  const usedDims = Int32Array.from(new Set(plans.flatMap((plan) => [...plan])));
  const valueIds = def.dimensions.map(() => new Map<string, number>());
  const values: string[][] = def.dimensions.map(() => []);
  const recordIds = new Int32Array(def.dimensions.length);

  // Combinations: per rollup, a chain of pair tables turns the value ids into one dense prefix
  // id (the value id itself for one dimension, 0 for the total), and comboOf[r] maps it to a
  // combination id shared by all rollups (-1: none yet).
  const chains = plans.map((plan) => Array.from({ length: Math.max(0, plan.length - 1) }, () => new PairTable()));
  const comboOf = plans.map(() => new Int32Array(16).fill(-1));
  const comboRollup: number[] = [];
  const comboValues: string[][] = [];

  // Time buckets → dense ids: a window indexed by bucket number (from the origin) for the usual
  // case, a Map for buckets far outside it.
  const bucketStarts: number[] = [];
  let windowBase = 0;
  let window = new Int32Array(0);
  const farBuckets = new Map<number, number>();
  let lastBucket = Number.NaN;
  let lastBucketEnd = Number.NaN;
  let lastBucketId = -1;

  // Groups: (bucket id, combination id) → group id. While combinations × buckets stay few, one
  // row per combination indexed by bucket id (group + 1; 0: none): one load where a hash probe
  // missed the cache at high cardinality (e.g. 214 combinations × 8,760 hours: 14 MB of rows,
  // where the PairTable took 32 MB). Past DENSE_ENTRIES entries and 8 per group (then the rows
  // would take more than the PairTable's ≥ 32 bytes a group), a PairTable from then on.
  // `groups.size` is the number of groups, as cells() reads it.
  const groups = { size: 0 };
  let hashed: PairTable | undefined;
  let rows: Int32Array[] = [];
  let rowLength = 64;
  let denseEntries = 0;
  const groupCombo: number[] = [];
  const groupBucket: number[] = [];
  const recordDoubles = metricCount * CELL_DOUBLES;
  let cellCapacity = 64 * metricCount;
  let buffer = new ArrayBuffer(cellCapacity * CELL_DOUBLES * 8);
  let f64 = new Float64Array(buffer);
  let i32 = new Int32Array(buffer);

  let pool = new Int32Array(1 << 12);
  let poolTop = 2;

  // Cell updates (cell, stored bin, value) staged by add() and applied by flush().
  const updatesPerRecord = rollupCount * metricCount;
  const STAGE_UPDATES = Math.max(1024, updatesPerRecord);
  const stageCell = new Int32Array(STAGE_UPDATES);
  const stageBin = new Int32Array(STAGE_UPDATES);
  const stageValue = new Float64Array(STAGE_UPDATES);
  let staged = 0;
  let sink = 0;

  // Per rollup and metric (r · metricCount + m): sketch tables created and their slots, summed.
  const tables = new Float64Array(rollupCount * metricCount);
  const tableSlots = new Float64Array(rollupCount * metricCount);

  const present = new Uint8Array(metricCount);
  const stored = new Int32Array(metricCount);
  let records = 0;

  function bucketIdOf(timeMs: number): number {
    if (!Number.isFinite(timeMs)) throw new RangeError(`record time ${timeMs} is not a finite number of milliseconds`);
    // The bucket number by one division, checked exactly: for an integer time (what the parsers
    // give, but for fractional epoch seconds) every term is an integer below 2^53, so the check is
    // exact and the start equals bucketStart's. bucketStart's remainder is a libm call (fmod),
    // measured as the cost of a record in no time order; it stays for what the check refuses.
    let n = Math.floor((timeMs - BUCKET_ORIGIN_MS) / width);
    let start = BUCKET_ORIGIN_MS + n * width;
    if (!(Number.isInteger(timeMs) && start <= timeMs && timeMs < start + width)) {
      start = bucketStart(timeMs, granularity);
      n = Math.round((start - BUCKET_ORIGIN_MS) / width);
    }
    lastBucket = start;
    lastBucketEnd = start + width;
    let at = n - windowBase;
    if (at < 0 || at >= window.length) {
      const lo = Math.min(n, window.length === 0 ? n : windowBase);
      const hi = Math.max(n + 1, windowBase + window.length);
      if (hi - lo > 1 << 16) {
        let id = farBuckets.get(start);
        if (id === undefined) farBuckets.set(start, (id = newBucket(start)));
        return id;
      }
      // Grown by half its span again in both directions: time-ordered input extends it rarely.
      const slack = (hi - lo) >> 1;
      const base = lo - (window.length === 0 ? 0 : slack);
      const grown = new Int32Array(hi - lo + (window.length === 0 ? 64 : 2 * slack)).fill(-1);
      if (window.length > 0) grown.set(window, windowBase - base);
      // Buckets met outside an earlier window keep their ids inside this one.
      for (const [far, id] of farBuckets) {
        const k = Math.round((far - BUCKET_ORIGIN_MS) / width) - base;
        if (k >= 0 && k < grown.length) grown[k] = id;
      }
      window = grown;
      windowBase = base;
      at = n - base;
    }
    let id = window[at];
    if (id < 0) window[at] = id = newBucket(start);
    return id;
  }

  function newBucket(start: number): number {
    bucketStarts.push(start);
    return bucketStarts.length - 1;
  }

  function valueId(d: number, value: string): number {
    const own = ownCopy(value);
    const id = values[d].length;
    values[d].push(own);
    valueIds[d].set(own, id);
    return id;
  }

  function newCombo(r: number, prefix: number): number {
    let map = comboOf[r];
    if (prefix >= map.length) {
      const grown = new Int32Array(Math.max(2 * map.length, prefix + 1)).fill(-1);
      grown.set(map);
      comboOf[r] = map = grown;
    }
    const combo = comboRollup.length;
    map[prefix] = combo;
    comboRollup.push(r);
    const plan = plans[r];
    const dims: string[] = [];
    for (let l = 0; l < plan.length; l++) dims.push(values[plan[l]][recordIds[plan[l]]]);
    comboValues.push(dims);
    return combo;
  }

  function findGroup(bucketId: number, combo: number): number {
    if (hashed !== undefined) return hashed.find(bucketId, combo);
    const row = rows[combo];
    return row !== undefined && bucketId < row.length ? row[bucketId] - 1 : -1;
  }

  function newGroup(bucketId: number, combo: number): number {
    const group = groups.size++;
    groupCombo.push(combo);
    groupBucket.push(bucketId);
    if (hashed !== undefined) hashed.insert(bucketId, combo);
    else placeDense(bucketId, combo, group);
    const end = (group + 1) * metricCount;
    if (end > cellCapacity) {
      cellCapacity *= 2;
      buffer = new ArrayBuffer(cellCapacity * CELL_DOUBLES * 8);
      const grown = new Float64Array(buffer);
      grown.set(f64);
      f64 = grown;
      i32 = new Int32Array(buffer);
    }
    for (let c = group * metricCount; c < end; c++) {
      // ±Infinity as the empty min and max: the first value replaces both without a branch.
      f64[c * CELL_DOUBLES + MIN] = Number.POSITIVE_INFINITY;
      f64[c * CELL_DOUBLES + MAX] = Number.NEGATIVE_INFINITY;
      // Offset 0, mask 0: the shared empty table.
    }
    return group;
  }

  /** Records a new group in its combination's row, or moves every group to a PairTable (see `groups`). */
  function placeDense(bucketId: number, combo: number, group: number): void {
    let row = rows[combo];
    if (row === undefined || bucketId >= row.length) {
      if (bucketId >= rowLength) rowLength = Math.max(2 * rowLength, bucketId + 1);
      const had = row === undefined ? 0 : row.length;
      denseEntries += rowLength - had;
      if (denseEntries > DENSE_ENTRIES && denseEntries > 8 * groups.size) {
        // Ids are given in order of insertion: group g gets id g again.
        hashed = new PairTable();
        for (let g = 0; g < groups.size; g++) hashed.insert(groupBucket[g], groupCombo[g]);
        rows = [];
        return;
      }
      const grown = new Int32Array(rowLength);
      if (row !== undefined) grown.set(row);
      rows[combo] = row = grown;
    }
    row[bucketId] = group + 1;
  }

  /** Adds a bin absent from cell `c`'s table, growing the table first when it is 3/4 full. */
  function insertBin(c: number, bin: number): void {
    const at = c * CELL_INTS;
    const used = i32[at + SKETCH_USED];
    let mask = i32[at + SKETCH_MASK];
    if (used === 0 || 4 * (used + 1) > 3 * (mask + 1)) {
      // The sketches of one rollup and metric grow alike (e.g. a region's hour holds ~200 bins, a
      // station's one or two): a first table of the power of two at or below their mean size so far
      // skips the growths (and their rehashing) most of them went through. Only the layout depends
      // on it, never the bins.
      const kind = comboRollup[groupCombo[(c / metricCount) | 0]] * metricCount + (c % metricCount);
      let slots: number;
      if (used === 0) {
        slots = FIRST_TABLE_SLOTS;
        const mean = tableSlots[kind] / Math.max(1, tables[kind]);
        while (2 * slots <= mean && slots < MAX_FIRST_TABLE_SLOTS) slots *= 2;
        tables[kind]++;
        tableSlots[kind] += slots;
      } else {
        slots = 2 * (mask + 1);
        tableSlots[kind] += slots - (mask + 1);
      }
      const oldMask = mask;
      const offset = reserve(2 * slots);
      // Read after reserve: compacting the pool moves the old table.
      const from = i32[at + SKETCH_OFFSET];
      const p = pool;
      mask = slots - 1;
      if (used > 0) {
        for (let s = from; s <= from + 2 * oldMask; s += 2) {
          const key = p[s];
          if (key === 0) continue;
          let i = key & mask;
          while (p[offset + 2 * i] !== 0) i = (i + 1) & mask;
          p[offset + 2 * i] = key;
          p[offset + 2 * i + 1] = p[s + 1];
        }
      }
      i32[at + SKETCH_OFFSET] = offset;
      i32[at + SKETCH_MASK] = mask;
    }
    const p = pool;
    const offset = i32[at + SKETCH_OFFSET];
    let i = bin & mask;
    while (p[offset + 2 * i] !== 0) i = (i + 1) & mask;
    p[offset + 2 * i] = bin;
    p[offset + 2 * i + 1] = 1;
    i32[at + SKETCH_USED] = used + 1;
  }

  /**
   * Reserves `length` int32 at the end of the pool. Tables left behind by growth are garbage;
   * when the pool is full, the live tables are compacted into a new pool 3 times their size (each
   * compaction walks every cell: measured 7% faster over 5M records than 1.5 times).
   */
  function reserve(length: number): number {
    if (poolTop + length > pool.length) {
      let live = 2;
      const cellCount = groups.size * metricCount;
      for (let c = 0; c < cellCount; c++) if (i32[c * CELL_INTS + SKETCH_USED] > 0) live += 2 * (i32[c * CELL_INTS + SKETCH_MASK] + 1);
      const next = new Int32Array(Math.max(1 << 12, Math.ceil((live + length) * 3)));
      let top = 2;
      for (let c = 0; c < cellCount; c++) {
        const at = c * CELL_INTS;
        if (i32[at + SKETCH_USED] === 0) continue;
        const from = i32[at + SKETCH_OFFSET];
        const n = 2 * (i32[at + SKETCH_MASK] + 1);
        const old = pool;
        // Copied by hand: most tables are a few slots, and a subarray per table (millions at high
        // cardinality) cost more than the copy.
        for (let k = 0; k < n; k++) next[top + k] = old[from + k];
        i32[at + SKETCH_OFFSET] = top;
        top += n;
      }
      pool = next;
      poolTop = top;
    }
    const offset = poolTop;
    poolTop += length;
    return offset;
  }

  function add(timeMs: number, dims: readonly string[], metrics: Float64Array): void {
    for (let m = 0; m < metricCount; m++) {
      const v = metrics[m];
      // v − v is 0 for every finite v, NaN for NaN and ±Infinity: one test on the common path.
      if (v - v === 0) {
        present[m] = 1;
        stored[m] = sketchBucket(v) + BUCKET_OFFSET;
      } else if (v !== v) {
        present[m] = 0;
      } else {
        throw new RangeError(`metric "${def.metrics[m]}" is ${v}: metric values must be finite or NaN (missing)`);
      }
    }
    // Records mostly arrive in time order, so most fall into the previous record's bucket: two
    // comparisons instead of a floating-point remainder (a libm call) and a lookup.
    const bucketId = timeMs >= lastBucket && timeMs < lastBucketEnd ? lastBucketId : (lastBucketId = bucketIdOf(timeMs));
    if (++records > 0x7fffffff) throw new RangeError('one aggregator takes at most 2^31 − 1 records (sketch counts are int32)');
    for (let u = 0; u < usedDims.length; u++) {
      const d = usedDims[u];
      const value = dims[d];
      const id = valueIds[d].get(value);
      recordIds[d] = id === undefined ? valueId(d, value) : id;
    }
    for (let r = 0; r < rollupCount; r++) {
      const plan = plans[r];
      let prefix = plan.length === 0 ? 0 : recordIds[plan[0]];
      if (plan.length > 1) {
        const chain = chains[r];
        for (let l = 1; l < plan.length; l++) prefix = chain[l - 1].idOf(prefix, recordIds[plan[l]]);
      }
      const map = comboOf[r];
      let combo = prefix < map.length ? map[prefix] : -1;
      if (combo < 0) combo = newCombo(r, prefix);
      let group = findGroup(bucketId, combo);
      if (group < 0) group = newGroup(bucketId, combo);
      let c = group * metricCount;
      for (let m = 0; m < metricCount; m++, c++) {
        if (present[m] === 0) continue;
        stageCell[staged] = c;
        stageBin[staged] = stored[m];
        stageValue[staged] = metrics[m];
        staged++;
      }
    }
    if (staged > STAGE_UPDATES - updatesPerRecord) flush();
  }

  /**
   * Applies the staged updates, in the order they were staged (so every cell sees its values in
   * record order, as if applied at once: the same moments, bins and pool layout). A first pass
   * only reads each update's cell and sketch slot: those reads are independent of one another, so
   * the CPU overlaps their cache misses, where applying each update at once waited for one miss
   * after another; the second pass then finds the lines in cache (2 per update, ~128 KiB).
   */
  function flush(): void {
    const n = staged;
    staged = 0;
    const f = f64;
    let ints = i32;
    let p = pool;
    let touched = 0;
    for (let k = 0; k < n; k++) {
      const at = 2 * CELL_DOUBLES * stageCell[k];
      touched ^= p[ints[at + SKETCH_OFFSET] + 2 * (stageBin[k] & ints[at + SKETCH_MASK])];
    }
    // Kept so the first pass's reads are not optimised away.
    sink ^= touched;
    for (let k = 0; k < n; k++) {
      const c = stageCell[k];
      // Welford's update, as addToMoments in the tests' oracle (test/unit/rollup/oracle/moments.ts).
      const x = stageValue[k];
      const at = c * CELL_DOUBLES;
      const count = f[at + COUNT] + 1;
      const delta = x - f[at + MEAN];
      const mean = f[at + MEAN] + delta / count;
      f[at + COUNT] = count;
      f[at + SUM] += x;
      f[at + MEAN] = mean;
      f[at + M2] += delta * (x - mean);
      if (x < f[at + MIN]) f[at + MIN] = x;
      if (x > f[at + MAX]) f[at + MAX] = x;
      // One probe of the cell's sketch table, usually its first slot.
      const bin = stageBin[k];
      // 2 * at: the cell's first int32 slot (at counts doubles).
      const offset = ints[2 * at + SKETCH_OFFSET];
      const mask = ints[2 * at + SKETCH_MASK];
      for (let i = bin & mask; ; i = (i + 1) & mask) {
        const s = offset + 2 * i;
        const key = p[s];
        if (key === bin) {
          p[s + 1]++;
          break;
        }
        if (key === 0) {
          // A new bin: in place while the table stays at most 3/4 full (the usual case), else
          // insertBin grows the table first (and creates a cell's first one).
          const used = ints[2 * at + SKETCH_USED];
          if (used > 0 && 4 * (used + 1) <= 3 * (mask + 1)) {
            p[s] = bin;
            p[s + 1] = 1;
            ints[2 * at + SKETCH_USED] = used + 1;
          } else {
            insertBin(c, bin);
            // insertBin may replace the pool (reserve); the cell buffer only grows in add().
            p = pool;
            ints = i32;
          }
          break;
        }
      }
    }
  }

  /**
   * Group ids ordered by rollup (definition order), then bucket start: the order of
   * rollup_partials' index (dataset, rollup, bucket_start), so a partition's COPY adds its index
   * entries page by page instead of at random. Measured on one partition of the high-cardinality
   * bench file (236k groups in no time order): the COPY took 1.38 s sorted against 1.76 s as added.
   * A counting sort over (rollup, bucket rank) while there are few such keys per group; a
   * comparison sort past that (fine-grained buckets over a long span).
   */
  function groupOrder(): Int32Array {
    const n = groups.size;
    const bucketCount = bucketStarts.length;
    const byStart = Int32Array.from(bucketStarts.keys()).sort((a, b) => bucketStarts[a] - bucketStarts[b]);
    const rank = new Int32Array(bucketCount);
    for (let r = 0; r < bucketCount; r++) rank[byStart[r]] = r;
    const keyOf = (g: number) => comboRollup[groupCombo[g]] * bucketCount + rank[groupBucket[g]];
    const keys = rollupCount * bucketCount;
    const order = new Int32Array(n);
    if (keys > 4 * n + 65_536) {
      for (let g = 0; g < n; g++) order[g] = g;
      return order.sort((a, b) => keyOf(a) - keyOf(b) || a - b);
    }
    const starts = new Int32Array(keys + 1);
    for (let g = 0; g < n; g++) starts[keyOf(g) + 1]++;
    for (let k = 0; k < keys; k++) starts[k + 1] += starts[k];
    for (let g = 0; g < n; g++) order[starts[keyOf(g)]++] = g;
    return order;
  }

  function cells(): RollupCell[] {
    const out: RollupCell[] = [];
    let scratch = new Float64Array(64);
    for (const group of groupOrder()) {
      const combo = groupCombo[group];
      const rollup = rollupKeys[comboRollup[combo]];
      const start = bucketStarts[groupBucket[group]];
      const dims = comboValues[combo];
      for (let m = 0; m < metricCount; m++) {
        const c = group * metricCount + m;
        const at = c * CELL_DOUBLES;
        const count = f64[at + COUNT];
        const used = i32[2 * at + SKETCH_USED];
        if (used > scratch.length) scratch = new Float64Array(2 * used);
        // Bins as bucket · 2^32 + count, so one numeric sort orders them by bucket.
        let n = 0;
        const offset = i32[2 * at + SKETCH_OFFSET];
        const end = offset + 2 * i32[2 * at + SKETCH_MASK];
        if (used > 0) for (let s = offset; s <= end; s += 2) if (pool[s] !== 0) scratch[n++] = pool[s] * 4294967296 + pool[s + 1];
        const bins = scratch.subarray(0, n).sort();
        // Built without a prototype, V8 keeps the object in dictionary mode; each sketch has its own
        // set of keys, and adding them to an ordinary `{}` builds a hidden class per set (measured:
        // 1.6x slower). The prototype is restored after, so it behaves as any plain object.
        const sketch: SketchJson = Object.create(null);
        for (let i = 0; i < n; i++) {
          const bin = Math.floor(bins[i] / 4294967296);
          sketch[binName(bin)] = bins[i] - bin * 4294967296;
        }
        out.push({
          rollup,
          bucketStart: start,
          dims: dims.slice(),
          metric: def.metrics[m],
          count,
          sum: f64[at + SUM],
          min: count === 0 ? null : f64[at + MIN],
          max: count === 0 ? null : f64[at + MAX],
          mean: f64[at + MEAN],
          m2: f64[at + M2],
          sketch: Object.setPrototypeOf(sketch, Object.prototype) as SketchJson,
        });
      }
    }
    return out;
  }

  /**
   * A group's single-value form (see RollupGroup), or undefined when a metric holds two values or
   * more. A value's count is 1 and its sum, min, max and mean are the value (0 + x: a -0 sums to 0),
   * its M2 0 and its sketch the one bin it was added to.
   */
  function singleValues(group: number): Float64Array | undefined {
    for (let m = 0; m < metricCount; m++) if (f64[(group * metricCount + m) * CELL_DOUBLES + COUNT] > 1) return undefined;
    const single = new Float64Array(2 * metricCount);
    for (let m = 0; m < metricCount; m++) {
      const at = (group * metricCount + m) * CELL_DOUBLES;
      if (f64[at + COUNT] === 0) {
        single[m] = Number.NaN;
        continue;
      }
      single[m] = f64[at + MIN];
      const offset = i32[2 * at + SKETCH_OFFSET];
      const end = offset + 2 * i32[2 * at + SKETCH_MASK];
      for (let s = offset; s <= end; s += 2) {
        if (pool[s] !== 0) {
          single[metricCount + m] = pool[s] - BUCKET_OFFSET;
          break;
        }
      }
    }
    return single;
  }

  /**
   * The cells group by group, every metric of a group together, sketches as JSON text written
   * straight from the bins as bytes (no object per sketch, no string: this function was 15–18% of a
   * processor's time on unordered files, and one partition's groups and their COPY rows took 219 ms
   * as bytes against 244 ms as concatenated strings, 830 against 881 at high cardinality, the same
   * bytes). Lazy: a caller that writes
   * them out as it goes never holds more than one group's output. The aggregator must not change
   * while this runs.
   */
  function* groupsOut(): Generator<RollupGroup> {
    let bins = new Float64Array(64);
    let text = new Uint8Array(1 << 12);
    let n = 0;
    const BRACKET_OPEN = 0x5b;
    const BRACKET_CLOSE = 0x5d;
    const BRACE_OPEN = 0x7b;
    const BRACE_CLOSE = 0x7d;
    const COMMA = 0x2c;
    for (const group of groupOrder()) {
      const combo = groupCombo[group];
      const single = singleValues(group);
      if (single !== undefined) {
        yield { rollup: rollupKeys[comboRollup[combo]], bucketStart: bucketStarts[groupBucket[group]], dims: comboValues[combo], stats: single, sketches: null };
        continue;
      }
      const stats = new Float64Array(GROUP_STATS * metricCount);
      n = 0;
      text[n++] = BRACKET_OPEN;
      for (let m = 0; m < metricCount; m++) {
        const c = group * metricCount + m;
        const at = c * CELL_DOUBLES;
        const count = f64[at + COUNT];
        const o = GROUP_STATS * m;
        stats[o] = count;
        stats[o + 1] = f64[at + SUM];
        stats[o + 2] = count === 0 ? Number.NaN : f64[at + MIN];
        stats[o + 3] = count === 0 ? Number.NaN : f64[at + MAX];
        stats[o + 4] = f64[at + MEAN];
        stats[o + 5] = f64[at + M2];
        // Bins as bucket · 2^32 + count, so one numeric order is the bucket order.
        const used = i32[2 * at + SKETCH_USED];
        const offset = i32[2 * at + SKETCH_OFFSET];
        const end = offset + 2 * i32[2 * at + SKETCH_MASK];
        if (used > bins.length) bins = new Float64Array(2 * used);
        let k = 0;
        if (used > 0) for (let s = offset; s <= end; s += 2) if (pool[s] !== 0) bins[k++] = pool[s] * 4294967296 + pool[s + 1];
        sortBins(bins, k);
        // At most `,{` + per bin `,"p-12345":` and a count of 10 digits + `}]`.
        const room = n + 4 + 24 * k;
        if (room > text.length) {
          const grown = new Uint8Array(Math.max(2 * text.length, room));
          grown.set(text.subarray(0, n));
          text = grown;
        }
        if (m > 0) text[n++] = COMMA;
        text[n++] = BRACE_OPEN;
        for (let i = 0; i < k; i++) {
          const bin = Math.floor(bins[i] / 4294967296);
          if (i > 0) text[n++] = COMMA;
          const token = binToken(bin);
          for (let t = 0; t < token.length; t++) text[n++] = token[t];
          n = writeDigits(text, n, bins[i] - bin * 4294967296);
        }
        text[n++] = BRACE_CLOSE;
      }
      text[n++] = BRACKET_CLOSE;
      yield { rollup: rollupKeys[comboRollup[combo]], bucketStart: bucketStarts[groupBucket[group]], dims: comboValues[combo], stats, sketches: text.slice(0, n) };
    }
  }

  return {
    add,
    // Staged updates first: cells() and groupsOut() read the cells' state.
    cells: () => {
      flush();
      return cells();
    },
    groups: () => {
      flush();
      return groupsOut();
    },
    get size() {
      return groups.size * metricCount;
    },
  };
}
