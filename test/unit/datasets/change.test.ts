import { describe, expect, it } from 'vitest';
import { definitionChange } from '../../../lib/datasets/change.ts';
import { parseDatasetDefinition } from '../../../lib/datasets/definition.ts';

const base = parseDatasetDefinition({
  name: 'orders',
  format: 'csv',
  timeColumn: 'ts',
  granularity: '1-hour',
  dimensions: ['region', 'sku'],
  metrics: ['amount', 'qty'],
  rollups: [['region'], ['region', 'sku'], []],
});
const changed = (patch: Record<string, unknown>) => parseDatasetDefinition({ ...base, ...patch });

describe('definitionChange', () => {
  it('finds nothing in an identical definition, or one that only reads files differently', () => {
    expect(definitionChange(base, base)).toEqual({ refused: [], newDataOnly: [] });
    expect(definitionChange(base, changed({ timeFormat: 'epoch_ms', format: 'ndjson', timeColumn: 'time' }))).toEqual({ refused: [], newDataOnly: [] });
  });

  it('refuses each change that breaks stored aggregates, naming it', () => {
    expect(definitionChange(base, changed({ granularity: '1-day' })).refused).toEqual(['granularity 1-hour → 1-day: stored buckets are 1-hour wide and would mix with 1-day ones']);
    expect(definitionChange(base, changed({ dimensions: ['region'], rollups: [['region'], []] })).refused).toEqual([
      'dimension(s) "sku" removed: the rollups grouped by them would be orphaned',
      'rollup(s) [region,sku] removed: their stored aggregates would be orphaned',
    ]);
    // The rollup's stored key follows the dimension order, so the old key is orphaned too.
    expect(definitionChange(base, changed({ dimensions: ['sku', 'region'] })).refused).toEqual([
      'dimensions reordered ("region", "sku" → "sku", "region"): rollups are stored under their dimensions in definition order',
      'rollup(s) [region,sku] removed: their stored aggregates would be orphaned',
    ]);
    expect(definitionChange(base, changed({ metrics: ['qty'] })).refused).toEqual(['metric(s) "amount" removed: their stored aggregates would no longer be queryable']);
  });

  it('lets additions through as applying to new data only', () => {
    const next = changed({ dimensions: ['region', 'sku', 'channel'], metrics: ['amount', 'qty', 'discount'], rollups: [['region'], ['region', 'sku'], [], ['channel']] });

    expect(definitionChange(base, next)).toEqual({
      refused: [],
      newDataOnly: ['dimension(s) "channel" added', 'metric(s) "discount" added: stored buckets have no values for them', 'rollup(s) [channel] added: they hold only data loaded from now on'],
    });
  });

  it('sees a rollup listed in another order as the same rollup', () => {
    expect(definitionChange(base, changed({ rollups: [[], ['sku', 'region'], ['region']] }))).toEqual({ refused: [], newDataOnly: [] });
  });
});
