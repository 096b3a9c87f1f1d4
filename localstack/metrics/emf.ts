import { StandardUnit, type Dimension, type MetricDatum } from '@aws-sdk/client-cloudwatch';
import type { MetricDataGroup } from '../../lib/adapters/metricsPublisher.ts';

const UNITS = new Set<string>(Object.values(StandardUnit));
// Spec limits: 30 dimensions per set, 100 metrics per directive, 100 values per metric.
const MAX_DIMENSIONS = 30;
const MAX_METRICS = 100;
const MAX_VALUES = 100;

/**
 * The datapoints CloudWatch Logs extracts from one log line in the embedded metric format, as
 * PutMetricData input: what a function's Powertools Metrics flush becomes on AWS. Not EMF (not a
 * JSON object with `_aws.CloudWatchMetrics`, or no `_aws.Timestamp`): no datapoints. One metric per
 * MetricDefinition and DimensionSet; a definition whose member is not a number (or an array of at
 * most 100 numbers), or a dimension set naming a missing or non-string member, yields nothing, as
 * CloudWatch drops them; an unknown unit is left out (CloudWatch's default, None).
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 *
 * @example
 * emfToMetricData('{"_aws":{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"batchflow",' +
 *   '"Dimensions":[["FunctionName"]],"Metrics":[{"Name":"RowsMerged","Unit":"Count"}]}]},' +
 *   '"FunctionName":"batchflow-dev-processor","RowsMerged":42}');
 * // [{ namespace: 'batchflow', data: [{ MetricName: 'RowsMerged', Unit: 'Count', Value: 42,
 * //    Timestamp: new Date(1700000000000), Dimensions: [{ Name: 'FunctionName', Value: 'batchflow-dev-processor' }] }] }]
 */
export function emfToMetricData(line: string): MetricDataGroup[] {
  // Most lines are not EMF: skip the parse.
  if (!line.includes('"_aws"')) return [];
  let root: unknown;
  try {
    root = JSON.parse(line);
  } catch {
    return [];
  }
  if (!isObject(root) || !isObject(root._aws)) return [];
  const { Timestamp, CloudWatchMetrics } = root._aws;
  if (typeof Timestamp !== 'number' || !Number.isFinite(Timestamp) || !Array.isArray(CloudWatchMetrics)) return [];
  const timestamp = new Date(Timestamp);

  const groups: MetricDataGroup[] = [];
  for (const directive of CloudWatchMetrics) {
    if (!isObject(directive) || typeof directive.Namespace !== 'string' || directive.Namespace === '') continue;
    if (!Array.isArray(directive.Dimensions) || !Array.isArray(directive.Metrics)) continue;
    const dimensionSets = directive.Dimensions.map((set) => dimensions(root as Record<string, unknown>, set)).filter(
      (set): set is Dimension[] => set !== undefined,
    );
    const data: MetricDatum[] = [];
    for (const definition of directive.Metrics.slice(0, MAX_METRICS)) {
      if (!isObject(definition) || typeof definition.Name !== 'string') continue;
      const values = metricValues(root[definition.Name]);
      if (!values) continue;
      const unit = typeof definition.Unit === 'string' && UNITS.has(definition.Unit) ? (definition.Unit as StandardUnit) : undefined;
      const resolution = definition.StorageResolution === 1 ? 1 : undefined;
      for (const set of dimensionSets) {
        data.push({
          MetricName: definition.Name,
          Timestamp: timestamp,
          ...(set.length > 0 ? { Dimensions: set } : {}),
          ...(values.length === 1 ? { Value: values[0] } : { Values: values }),
          ...(unit ? { Unit: unit } : {}),
          ...(resolution ? { StorageResolution: resolution } : {}),
        });
      }
    }
    if (data.length > 0) groups.push({ namespace: directive.Namespace, data });
  }
  return groups;
}

/** A DimensionSet's dimensions, or undefined when it is invalid. */
function dimensions(root: Record<string, unknown>, set: unknown): Dimension[] | undefined {
  if (!Array.isArray(set) || set.length > MAX_DIMENSIONS) return undefined;
  const result: Dimension[] = [];
  for (const key of set) {
    if (typeof key !== 'string') return undefined;
    const value = root[key];
    if (typeof value !== 'string' || value === '') return undefined;
    result.push({ Name: key, Value: value });
  }
  return result;
}

/** A target member's values, or undefined when it is not a number or an array of 1-100 numbers. */
function metricValues(member: unknown): number[] | undefined {
  const values = Array.isArray(member) ? member : [member];
  if (values.length === 0 || values.length > MAX_VALUES) return undefined;
  return values.every((v): v is number => typeof v === 'number' && Number.isFinite(v)) ? values : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
