/** What an analytics run writes: one value per window, entity, metric and aggregation. */

/** One results row. */
export interface ResultRow {
  readonly job: string;
  readonly windowStart: Date;
  readonly windowEnd: Date;
  readonly entity: string;
  readonly metric: string;
  readonly aggregation: string;
  readonly value: number | null;
}
