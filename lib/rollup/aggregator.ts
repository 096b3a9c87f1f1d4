import { DatasetDefinitionError, rollupKey, type DatasetDefinition } from '../datasets/definition.ts';
import { bucketStart, parseGranularity } from './granularity.ts';
import { addToMoments, createMoments, readMoments, type MomentsAccumulator } from './moments.ts';
import { DDSketch, sketchBucket, type SketchJson } from './sketch.ts';

/**
 * Rolls records up into cells: for every rollup of a dataset, one cell per time bucket and
 * combination of that rollup's dimension values, holding each metric's moments and sketch.
 * Cells from different partitions merge in Postgres into the same totals this would give for the
 * whole input.
 */

/** One metric's summary in one bucket of one rollup, as the store merges it into Postgres. */
export interface RollupCell {
  /** The rollup's identity, rollupKey(its dimensions): '' for the total. */
  rollup: string;
  bucketStart: number;
  /** The rollup's dimension values, in the rollup's order ('' for a missing value). */
  dims: string[];
  metric: string;
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

/** Accumulates records into rollup cells; its memory grows with the cells, not the records. */
export interface RollupAggregator {
  /** Adds one record, with the arguments of RecordSink.accept (dims and metrics in definition order). */
  add(timeMs: number, dims: readonly string[], metrics: Float64Array): void;
  /** Every cell so far: one per rollup, bucket, combination of dimension values and metric. */
  cells(): RollupCell[];
  /** The number of cells, i.e. `cells().length`. */
  readonly size: number;
}

/** One (rollup, bucket, dimension values) group with an accumulator per metric. */
class Group {
  readonly moments: MomentsAccumulator;
  readonly sketches: DDSketch[] = [];

  constructor(
    readonly rollup: number,
    readonly bucketStart: number,
    readonly dims: string[],
    metricCount: number,
  ) {
    this.moments = createMoments(metricCount);
    for (let m = 0; m < metricCount; m++) this.sketches.push(new DDSketch());
  }
}

/** Dimension value → the next level, down to the Group: one level per dimension of the rollup. */
type Level = Map<string, Level | Group>;

/**
 * Copies a string into its own storage. V8 may represent a substring as a slice of its parent
 * (e.g. a whole decoded chunk); keeping such a slice as a key would keep the chunk alive, and
 * memory would grow with the input instead of the cells. Concatenating then slicing flattens a
 * copy.
 */
function ownCopy(s: string): string {
  return (' ' + s).slice(1);
}

/**
 * Creates an aggregator for a dataset's rollups and granularity.
 *
 * Per record it computes the bucket once, each metric's sketch bucket once, and then walks one
 * Map level per rollup dimension, reusing both across rollups. Nothing is allocated unless a cell
 * appears or a sketch meets a new bucket (measured: no garbage collection over 10M records into
 * existing cells). Throws RangeError for a time or metric that is not finite (NaN metrics are
 * missing values), which the parser should have rejected.
 *
 * @example
 * const aggregator = createRollupAggregator(definition); // dimensions [region, sku], metrics [amount]
 * aggregator.add(Date.parse('2024-05-01T10:30:00Z'), ['eu', 'sku-1'], new Float64Array([12.5]));
 * aggregator.cells(); // one cell per rollup: [region], [sku] and the total, for the 10:00 bucket
 */
export function createRollupAggregator(def: DatasetDefinition): RollupAggregator {
  const granularity = parseGranularity(def.granularity);
  const metricCount = def.metrics.length;
  const plans = def.rollups.map((rollup, r) =>
    Int32Array.from(rollup, (dim, l) => {
      const d = def.dimensions.indexOf(dim);
      if (d < 0) throw new DatasetDefinitionError([`rollups[${r}][${l}]: "${dim}" is not one of the dimensions`]);
      return d;
    }),
  );
  const rollupKeys = def.rollups.map(rollupKey);
  // Per bucket, one root per rollup: the Group itself for the total, else the first Map level.
  const buckets = new Map<number, (Level | Group)[]>();
  const groups: Group[] = [];
  const present = new Uint8Array(metricCount);
  const sketchBuckets = new Int32Array(metricCount);
  // One copy of each distinct value per dimension, shared by every Map key and cell that holds it.
  const interned = def.dimensions.map(() => new Map<string, string>());
  let lastBucket = Number.NaN;
  let lastBucketEnd = Number.NaN;
  let roots: (Level | Group)[] = [];

  function rootsOf(bucket: number): (Level | Group)[] {
    if (!Number.isFinite(bucket)) throw new RangeError(`record time ${bucket} is not a finite number of milliseconds`);
    let found = buckets.get(bucket);
    if (found === undefined) {
      found = plans.map((plan, r) => (plan.length === 0 ? newGroup(r, bucket, []) : new Map()));
      buckets.set(bucket, found);
    }
    return found;
  }

  function intern(d: number, value: string): string {
    let own = interned[d].get(value);
    if (own === undefined) {
      own = ownCopy(value);
      interned[d].set(own, own);
    }
    return own;
  }

  function newGroup(r: number, bucket: number, dims: readonly string[]): Group {
    const plan = plans[r];
    const values: string[] = [];
    for (let l = 0; l < plan.length; l++) values.push(intern(plan[l], dims[plan[l]]));
    const group = new Group(r, bucket, values, metricCount);
    groups.push(group);
    return group;
  }

  function add(timeMs: number, dims: readonly string[], metrics: Float64Array): void {
    for (let m = 0; m < metricCount; m++) {
      const v = metrics[m];
      // v − v is 0 for every finite v, NaN for NaN and ±Infinity: one test on the common path.
      if (v - v === 0) {
        present[m] = 1;
        sketchBuckets[m] = sketchBucket(v);
      } else if (v !== v) {
        present[m] = 0;
      } else {
        throw new RangeError(`metric "${def.metrics[m]}" is ${v}: metric values must be finite or NaN (missing)`);
      }
    }
    // Records mostly arrive in time order, so most fall into the previous record's bucket: two
    // comparisons instead of a floating-point remainder (a libm call) and a Map lookup.
    if (!(timeMs >= lastBucket && timeMs < lastBucketEnd)) {
      lastBucket = bucketStart(timeMs, granularity);
      lastBucketEnd = lastBucket + granularity.ms;
      roots = rootsOf(lastBucket);
    }
    const bucket = lastBucket;
    for (let r = 0; r < plans.length; r++) {
      const plan = plans[r];
      let node = roots[r];
      for (let l = 0; l < plan.length; l++) {
        const level = node as Level;
        const next = level.get(dims[plan[l]]);
        if (next !== undefined) {
          node = next;
        } else {
          node = l === plan.length - 1 ? newGroup(r, bucket, dims) : new Map();
          level.set(intern(plan[l], dims[plan[l]]), node);
        }
      }
      const group = node as Group;
      for (let m = 0; m < metricCount; m++) {
        if (present[m] === 1) {
          addToMoments(group.moments, m, metrics[m]);
          group.sketches[m].addBucket(sketchBuckets[m], 1);
        }
      }
    }
  }

  function cells(): RollupCell[] {
    const out: RollupCell[] = [];
    for (const group of groups) {
      for (let m = 0; m < metricCount; m++) {
        const moments = readMoments(group.moments, m);
        out.push({
          rollup: rollupKeys[group.rollup],
          bucketStart: group.bucketStart,
          dims: [...group.dims],
          metric: def.metrics[m],
          count: moments.count,
          sum: moments.sum,
          min: moments.min,
          max: moments.max,
          mean: moments.mean,
          m2: moments.m2,
          sketch: group.sketches[m].toJSON(),
        });
      }
    }
    return out;
  }

  return {
    add,
    cells,
    get size() {
      return groups.length * metricCount;
    },
  };
}
