import { BatchflowError } from '../errors.ts';

/**
 * A DDSketch (Masson, Rim & Lee, VLDB 2019): a quantile estimate within a relative error α of
 * the true value, from counts in logarithmic buckets. A positive value v falls into key
 * k = ceil(log_γ v) with γ = (1+α)/(1−α), i.e. (γ^(k−1), γ^k], and is estimated by
 * 2γ^k/(γ+1), which lies within α of every value in that interval. Negative values use the same
 * keys on |v|, counted apart; values too small to take a logarithm safely count as zero.
 *
 * Serialised as a flat object of integer counts, `{ "p<k>": n, "n<k>": n, "z": n }`, so two
 * sketches merge by adding counts key by key: the SQL layer merges them without knowing this
 * encoding, and the merge is exact (the merged sketch is the sketch of the union).
 */

/** The sketch's relative accuracy α: every quantile estimate is within 1% of the true value. */
export const SKETCH_RELATIVE_ACCURACY = 0.01;

const GAMMA = (1 + SKETCH_RELATIVE_ACCURACY) / (1 - SKETCH_RELATIVE_ACCURACY);
const LN_GAMMA = Math.log(GAMMA);
// 2γ^k/(γ+1) written as γ^(k−1)·2γ/(γ+1), so the largest key does not overflow γ^k.
const REPRESENTATIVE_FACTOR = (2 * GAMMA) / (GAMMA + 1);

/**
 * Magnitudes below this count as zero: the smallest normal double. Below it (subnormals) γ^k
 * loses precision and the 1% guarantee with it; no real metric lives there.
 */
export const SKETCH_ZERO_THRESHOLD = 2.2250738585072014e-308;

/** A sketch as stored in Postgres: integer counts by bucket, e.g. `{ "n3": 1, "z": 2, "p70": 5 }`. */
export type SketchJson = Record<string, number>;

/** A sketch that cannot be read, or a quantile that cannot be asked. */
export class SketchError extends BatchflowError {
  override name = 'SketchError';
}

/** The key of a magnitude at or above SKETCH_ZERO_THRESHOLD: ceil(log_γ magnitude). */
export function sketchKey(magnitude: number): number {
  return Math.ceil(Math.log(magnitude) / LN_GAMMA);
}

const MIN_KEY = sketchKey(SKETCH_ZERO_THRESHOLD);
const MAX_KEY = sketchKey(Number.MAX_VALUE);
/**
 * Shifts every key to ≥ 1, so one signed integer can carry both the sign and the key: bucket b
 * (sketchBucket) is named "p<b − bias>" above zero, "n<−b − bias>" below and "z" at zero (the SQL
 * layer names the bucket of a single-value partial row this way).
 */
export const SKETCH_KEY_BIAS = 1 - MIN_KEY;
const KEY_BIAS = SKETCH_KEY_BIAS;

/**
 * The bucket of a finite value as one signed integer: 0 for zero, ±(key + bias) by sign. The
 * aggregator computes it once per value and adds it to every rollup's sketch with `addBucket`.
 */
export function sketchBucket(v: number): number {
  if (v >= SKETCH_ZERO_THRESHOLD) return sketchKey(v) + KEY_BIAS;
  if (v <= -SKETCH_ZERO_THRESHOLD) return -(sketchKey(-v) + KEY_BIAS);
  return 0;
}

function representative(key: number): number {
  return Math.min(Math.pow(GAMMA, key - 1) * REPRESENTATIVE_FACTOR, Number.MAX_VALUE);
}

/** The estimate for a bucket from `sketchBucket`: the representative value, with its sign. */
function valueOf(bucket: number): number {
  if (bucket > 0) return representative(bucket - KEY_BIAS);
  if (bucket < 0) return -representative(-bucket - KEY_BIAS);
  return 0;
}

/** The largest |bucket| `sketchBucket` returns: buckets lie in [−SKETCH_MAX_BUCKET, SKETCH_MAX_BUCKET]. */
export const SKETCH_MAX_BUCKET = MAX_KEY + KEY_BIAS;

// Names of the serialised keys by bucket, made once: cells() names every bucket of every sketch.
const bucketNames = new Map<number, string>();

/** The serialised key of a bucket from `sketchBucket`: "p<k>", "n<k>" or "z". */
export function sketchBucketName(bucket: number): string {
  let name = bucketNames.get(bucket);
  if (name === undefined) {
    name = bucket > 0 ? `p${bucket - KEY_BIAS}` : bucket < 0 ? `n${-bucket - KEY_BIAS}` : 'z';
    bucketNames.set(bucket, name);
  }
  return name;
}

// Slots (bucket, count) of a new table: holds 12 buckets, so a cell of a few values never grows it.
const INITIAL_SLOTS = 16;
const NO_SLOTS: number[] = [];
// Tables are copied from this by `slice`: a packed array of small integers (V8's fastest kind) in
// one copy, measured cheaper than building each by `push`.
let zeros: number[] = [];

function zeroArray(length: number): number[] {
  while (zeros.length < length) zeros = zeros.concat(zeros, [0]);
  return zeros.slice(0, length);
}

/**
 * A DDSketch with relative accuracy SKETCH_RELATIVE_ACCURACY; see the module comment.
 *
 * Counts are kept by signed bucket (see sketchBucket) in an open-addressing table indexed by the
 * bucket itself. A rollup cell often sees a few values spread over hundreds of keys, so a dense
 * array over its key range would be mostly empty; the buckets of one sketch are mostly
 * consecutive integers, so indexing by the bucket (mod capacity) places them without collisions,
 * as a dense array would. Bucket and count share one array to halve allocations and cache misses.
 */
export class DDSketch {
  private total = 0;
  private zero = 0;
  private used = 0;
  /** [bucket, count] pairs; bucket 0 marks an empty slot; the pair count is a power of two. */
  private slots: number[] = NO_SLOTS;

  /** How many values the sketch holds. */
  get count(): number {
    return this.total;
  }

  /** Adds one finite value. */
  add(v: number): void {
    if (!Number.isFinite(v)) throw new SketchError(`cannot add ${v} to a sketch: values must be finite`);
    this.addBucket(sketchBucket(v), 1);
  }

  /** Adds `n` values of a bucket from `sketchBucket`. */
  addBucket(bucket: number, n = 1): void {
    this.total += n;
    if (bucket === 0) {
      this.zero += n;
      return;
    }
    const slots = this.slots;
    // Two array entries per slot: `mask` keeps an even index within the array.
    const mask = slots.length - 2;
    if (mask >= 0) {
      for (let i = (bucket << 1) & mask; ; i = (i + 2) & mask) {
        const found = slots[i];
        if (found === bucket) {
          slots[i + 1] += n;
          return;
        }
        if (found === 0) break;
      }
    }
    this.insert(bucket, n);
  }

  /** Adds every value of another sketch: the result is the sketch of both sets together. */
  merge(other: DDSketch): void {
    if (other.zero > 0) this.addBucket(0, other.zero);
    // A copy when merging into itself: the loop must not see the counts it is adding.
    const slots = other === this ? other.slots.slice() : other.slots;
    for (let i = 0; i < slots.length; i += 2) if (slots[i] !== 0) this.addBucket(slots[i], slots[i + 1]);
  }

  /**
   * The value at rank floor(q·(count−1)) in ascending order (the lower middle for the median),
   * within 1% relative error; null for an empty sketch.
   */
  quantile(q: number): number | null {
    if (!(q >= 0 && q <= 1)) throw new SketchError(`quantile ${q} is not between 0 and 1`);
    if (this.total === 0) return null;
    const rank = Math.floor(q * (this.total - 1));
    let seen = 0;
    // Buckets ascend with the values they hold, negative through zero to positive.
    for (const bucket of this.sortedBuckets()) {
      seen += this.countOf(bucket);
      if (seen > rank) return valueOf(bucket);
    }
    throw new SketchError(`sketch counts do not add up to its count ${this.total}`);
  }

  /** The serialised form, in value order, with only non-zero counts (an empty sketch is `{}`). */
  toJSON(): SketchJson {
    // Built without a prototype, V8 keeps the object in dictionary mode; each sketch has its own
    // set of keys, and adding them to an ordinary `{}` builds a hidden class per set (measured:
    // cells() 1.6x slower). The prototype is restored after, so it behaves as any plain object.
    const json: SketchJson = Object.create(null);
    for (const bucket of this.sortedBuckets()) json[sketchBucketName(bucket)] = this.countOf(bucket);
    return Object.setPrototypeOf(json, Object.prototype);
  }

  /** The buckets with a count, zero included, in ascending order. */
  private sortedBuckets(): number[] {
    const sorted: number[] = this.zero > 0 ? [0] : [];
    const slots = this.slots;
    for (let i = 0; i < slots.length; i += 2) if (slots[i] !== 0) sorted.push(slots[i]);
    if (sorted.length > 16) return sorted.sort((a, b) => a - b);
    // Insertion sort: most cells hold a few buckets, where calling a comparator costs more.
    for (let i = 1; i < sorted.length; i++) {
      const bucket = sorted[i];
      let j = i;
      for (; j > 0 && sorted[j - 1] > bucket; j--) sorted[j] = sorted[j - 1];
      sorted[j] = bucket;
    }
    return sorted;
  }

  private countOf(bucket: number): number {
    if (bucket === 0) return this.zero;
    const slots = this.slots;
    const mask = slots.length - 2;
    let i = (bucket << 1) & mask;
    while (slots[i] !== bucket) i = (i + 2) & mask;
    return slots[i + 1];
  }

  private insert(bucket: number, n: number): void {
    // Grown at 3/4 load, so probes stay short and an empty slot always ends a probe.
    if (4 * (this.used + 1) > 3 * (this.slots.length >> 1)) this.grow();
    const slots = this.slots;
    const mask = slots.length - 2;
    let i = (bucket << 1) & mask;
    while (slots[i] !== 0) i = (i + 2) & mask;
    slots[i] = bucket;
    slots[i + 1] = n;
    this.used++;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = zeroArray(Math.max(2 * INITIAL_SLOTS, 2 * old.length));
    this.used = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.insert(old[i], old[i + 1]);
  }
}

const JSON_KEY = /^([pn])(-?\d+)$/;

/** Reads a serialised sketch, throwing SketchError for a key or count it does not recognise. */
export function sketchFromJson(json: unknown): DDSketch {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SketchError(`a sketch must be a JSON object of counts, got ${JSON.stringify(json)}`);
  }
  const sketch = new DDSketch();
  for (const [name, n] of Object.entries(json)) {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      throw new SketchError(`sketch count "${name}": ${JSON.stringify(n)} is not a non-negative integer`);
    }
    if (n === 0) continue;
    if (name === 'z') {
      sketch.addBucket(0, n);
      continue;
    }
    const match = JSON_KEY.exec(name);
    const key = match === null ? Number.NaN : Number(match[2]);
    if (match === null || key < MIN_KEY || key > MAX_KEY) {
      throw new SketchError(`sketch key "${name}" is not "z", "p<k>" or "n<k>" with k in [${MIN_KEY}, ${MAX_KEY}]`);
    }
    sketch.addBucket(match[1] === 'p' ? key + KEY_BIAS : -(key + KEY_BIAS), n);
  }
  return sketch;
}

/** The q-quantile of a serialised sketch (see DDSketch.quantile); null when it is empty. */
export function sketchQuantile(json: unknown, q: number): number | null {
  return sketchFromJson(json).quantile(q);
}
