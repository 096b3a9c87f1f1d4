/**
 * A hash table from a pair of int32 keys to dense ids 0, 1, 2, … in order of insertion: one
 * Int32Array of (a, b, id + 1) slots, linear probing, at most half full. Used for combinations
 * of two or more dimension values, and for the groups (bucket id, combination id) when there are
 * too many combinations for the aggregator's dense rows.
 */
export class PairTable {
  /** How many pairs the table holds; the next pair gets this id. */
  size = 0;
  private slots = new Int32Array(4 * 64);
  private mask = 63;

  /** The id of (a, b), or -1. */
  find(a: number, b: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let i = pairHash(a, b) & mask; ; i = (i + 1) & mask) {
      const at = i << 2;
      const id = slots[at + 2];
      if (id === 0) return -1;
      if (slots[at] === a && slots[at + 1] === b) return id - 1;
    }
  }

  /** Adds (a, b), which must not be present, and returns its id. */
  insert(a: number, b: number): number {
    if (2 * (this.size + 1) > this.mask + 1) this.grow();
    const id = this.size++;
    this.place(a, b, id + 1);
    return id;
  }

  /** The id of (a, b), adding it if absent. */
  idOf(a: number, b: number): number {
    const id = this.find(a, b);
    return id >= 0 ? id : this.insert(a, b);
  }

  private place(a: number, b: number, idPlusOne: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let i = pairHash(a, b) & mask;
    while (slots[(i << 2) + 2] !== 0) i = (i + 1) & mask;
    const at = i << 2;
    slots[at] = a;
    slots[at + 1] = b;
    slots[at + 2] = idPlusOne;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    this.mask = (this.slots.length >> 2) - 1;
    for (let at = 0; at < old.length; at += 4) if (old[at + 2] !== 0) this.place(old[at], old[at + 1], old[at + 2]);
  }
}

// Multiplicative mixing of both keys: consecutive ids, the usual keys, would otherwise cluster.
function pairHash(a: number, b: number): number {
  const h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77);
  return h ^ (h >>> 15);
}
