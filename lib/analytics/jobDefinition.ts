import { z } from 'zod';
import { BatchflowError } from '../errors.ts';

/** The aggregations a job can compute per metric (std and var are sample statistics, n − 1). */
export const AGGREGATIONS = ['sum', 'avg', 'count', 'min', 'max', 'median', 'std', 'var'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** What a job name may be: it is also an EventBridge schedule's name. */
export const JOB_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The granularities a job's windows can have. */
export const ANALYTICS_JOB_GRANULARITIES = ['1-hour', '2-hour', '4-hour', '6-hour', '12-hour', '1-day', '2-day', '3-day', '1-week', '2-week'] as const;

/** A scheduled analytics job (stored in `analytics_jobs`). */
export interface AnalyticsJobDefinition {
  readonly name: string;
  readonly enabled: boolean;
  /** An event name (EVERYHOUR, EVERYDAY8AMET, EVERYWEEK, EVERYHOURBYMIN10, ...) or a 5-field cron expression. */
  readonly schedule: string;
  /** IANA time zone of a cron expression (event names carry their own). */
  readonly timezone: string;
  readonly dataset: string;
  /** The dimension results are grouped by; null for totals. */
  readonly entity: string | null;
  readonly granularity: (typeof ANALYTICS_JOB_GRANULARITIES)[number];
  readonly delayHours: number;
  /** A filter over dimensions in the filter language (lib/analytics/filter.ts), or null. */
  readonly filter: string | null;
  readonly metrics: readonly { readonly metric: string; readonly aggregations: readonly Aggregation[] }[];
}

/** A job definition that is not valid; the message names every field at fault. */
export class JobDefinitionError extends BatchflowError {
  override name = 'JobDefinitionError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid job definition: ${problems.join('; ')}`);
  }
}

/**
 * Text a definition can store: the definition is kept as jsonb, which refuses `\u0000` (putting
 * a filter with a raw NUL failed with Postgres' "unsupported Unicode escape sequence").
 */
const text = () => z.string().refine((s) => !s.includes('\u0000'), { message: 'holds a NUL character (U+0000), which cannot be stored' });

const schema = z
  .object({
    name: z.string().regex(JOB_NAME, 'must be 1-63 of a-z 0-9 _ - starting with a letter or digit'),
    enabled: z.boolean().default(true),
    schedule: text().min(1, 'is required'),
    timezone: text().min(1).default('UTC'),
    dataset: text().min(1, 'is required'),
    entity: text().min(1).nullable().default(null),
    granularity: z.enum(ANALYTICS_JOB_GRANULARITIES, { error: `must be one of ${ANALYTICS_JOB_GRANULARITIES.join(', ')}` }),
    delayHours: z.number().int('must be a whole number of hours').min(0).max(24 * 28).default(0),
    filter: text().nullable().default(null),
    metrics: z
      .array(
        z.strictObject({
          metric: text().min(1),
          aggregations: z.array(z.enum(AGGREGATIONS, { error: `must be one of ${AGGREGATIONS.join(', ')}` })).min(1, 'needs at least one aggregation'),
        }),
      )
      .min(1, 'needs at least one metric'),
  })
  .strict();

/** Validates a job definition's shape (what needs the dataset is checked by `planJob`). */
export function parseAnalyticsJobDefinition(input: unknown): AnalyticsJobDefinition {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new JobDefinitionError(parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`));
  }
  const job = parsed.data;
  const seen = new Set<string>();
  const problems: string[] = [];
  job.metrics.forEach((m, i) => {
    if (seen.has(m.metric)) problems.push(`metrics[${i}].metric: "${m.metric}" is listed twice`);
    seen.add(m.metric);
  });
  if (problems.length > 0) throw new JobDefinitionError(problems);
  return { ...job, filter: job.filter?.trim() ? job.filter : null };
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('') || '(root)';
}
