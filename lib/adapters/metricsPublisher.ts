import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum } from '@aws-sdk/client-cloudwatch';

/** Datapoints of one CloudWatch namespace (PutMetricData takes one namespace per call). */
export interface MetricDataGroup {
  readonly namespace: string;
  readonly data: readonly MetricDatum[];
}

// PutMetricData limits: 1,000 datums, 150 values per datum, 1 MB per request.
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
const DATUMS_PER_CALL = 1000;
const VALUES_PER_DATUM = 150;
const BYTES_PER_CALL = 900 * 1024;

/**
 * Publishes datapoints with as few PutMetricData calls as the limits allow: groups of the same
 * namespace are merged, datums with more than 150 values are split, and calls are cut at 1,000
 * datums or ~900 KB. Rejects with the first failed call's error.
 *
 * @example
 * await publishMetrics(cloudWatch, [{ namespace: 'AWS/Lambda', data: [{ MetricName: 'Invocations', Value: 3 }] }]);
 */
export async function publishMetrics(client: CloudWatchClient, groups: readonly MetricDataGroup[]): Promise<void> {
  const byNamespace = new Map<string, MetricDatum[]>();
  for (const { namespace, data } of groups) {
    const datums = byNamespace.get(namespace) ?? [];
    for (const datum of data) datums.push(...splitValues(datum));
    byNamespace.set(namespace, datums);
  }
  for (const [namespace, datums] of byNamespace) {
    for (const batch of batches(datums)) {
      await client.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: batch }));
    }
  }
}

function splitValues(datum: MetricDatum): MetricDatum[] {
  const values = datum.Values;
  if (!values || values.length <= VALUES_PER_DATUM) return [datum];
  const parts: MetricDatum[] = [];
  for (let i = 0; i < values.length; i += VALUES_PER_DATUM) {
    parts.push({
      ...datum,
      Values: values.slice(i, i + VALUES_PER_DATUM),
      ...(datum.Counts ? { Counts: datum.Counts.slice(i, i + VALUES_PER_DATUM) } : {}),
    });
  }
  return parts;
}

function* batches(datums: readonly MetricDatum[]): Generator<MetricDatum[]> {
  let batch: MetricDatum[] = [];
  let bytes = 0;
  for (const datum of datums) {
    const size = JSON.stringify(datum).length;
    if (batch.length > 0 && (batch.length === DATUMS_PER_CALL || bytes + size > BYTES_PER_CALL)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(datum);
    bytes += size;
  }
  if (batch.length > 0) yield batch;
}
