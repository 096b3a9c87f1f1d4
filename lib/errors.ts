/**
 * The root of batchflow's own errors. Each module throws a small named subclass (e.g.
 * `DatasetDefinitionError`), so callers can catch batchflow's failures as a family with
 * `instanceof BatchflowError` or one kind by its class, and logs show the kind by `name`.
 *
 * @example
 * export class GranularityError extends BatchflowError {
 *   override name = 'GranularityError';
 * }
 */
export class BatchflowError extends Error {
  // Set explicitly rather than from `constructor.name`: bundlers minify class names.
  override name = 'BatchflowError';
}

/**
 * A partition message names a partition Postgres has no row for: thrown by the processor and by
 * the merge transaction. The processor reports it as that message's failure, so SQS redelivers it.
 */
export class PartitionNotRecordedError extends BatchflowError {
  override name = 'PartitionNotRecordedError';
}
