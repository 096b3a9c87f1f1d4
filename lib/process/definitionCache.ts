import type { DatasetDefinition } from '../datasets/definition.ts';

/**
 * The definitions jobs run with, kept per container: a container processes many partitions of
 * each job, and a job's snapshot never changes once the job is opened (lib/store/ingestJobs.ts),
 * so one read per job per container is enough.
 */

/** The definitions of jobs, by job id: undefined when the job or its dataset is gone. */
export interface JobDefinitions {
  get(jobId: number): Promise<DatasetDefinition | undefined>;
}

/** What the cache loads on a miss: the definition, and whether it is the job's immutable snapshot. */
export type LoadJobDefinition = (jobId: number) => Promise<{ readonly definition: DatasetDefinition; readonly snapshot: boolean } | undefined>;

/**
 * Jobs whose definitions a container keeps: a processor works through a few jobs at a time, and
 * 64 definitions of a few KB each are well under a megabyte.
 */
export const DEFINITION_CACHE_JOBS = 64;

/**
 * A least-recently-used cache of `capacity` jobs' snapshots over `load`. Concurrent misses for one
 * job share one load. A job without a snapshot (opened before migration 17) reads its dataset's
 * current definition, which can change: that one is loaded every time, never kept, as before.
 *
 * @example
 * const definitions = cachedJobDefinitions((jobId) => getJobDefinition(db, jobId));
 * const dataset = await definitions.get(message.jobId);
 */
export function cachedJobDefinitions(load: LoadJobDefinition, capacity: number = DEFINITION_CACHE_JOBS): JobDefinitions {
  // A Map iterates in insertion order: re-inserting on a hit keeps the least recently used first.
  const kept = new Map<number, Promise<DatasetDefinition | undefined>>();
  return {
    get(jobId) {
      const hit = kept.get(jobId);
      if (hit) {
        kept.delete(jobId);
        kept.set(jobId, hit);
        return hit;
      }
      const loading = load(jobId).then(
        (found) => {
          // Only a snapshot is immutable; a missing job may yet be recorded (or stay gone).
          if (!found?.snapshot) forget(jobId, loading);
          return found?.definition;
        },
        (err: unknown) => {
          forget(jobId, loading);
          throw err;
        },
      );
      kept.set(jobId, loading);
      if (kept.size > capacity) kept.delete(kept.keys().next().value!);
      return loading;
    },
  };

  function forget(jobId: number, loading: Promise<unknown>) {
    if (kept.get(jobId) === loading) kept.delete(jobId);
  }
}
