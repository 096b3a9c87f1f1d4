import { salesDataset } from '../../localstack/demo/sampleData.ts';

/**
 * The sales dataset (its one definition is definitions/datasets/sales.json, through the demo's
 * sample data) under another name, with the [region, product] pair among its rollups as well: the
 * tests check every rollup, the pair included, and the analytics bench filters a region job by
 * product. Nothing else differs from the deployed definition.
 */
export function salesCsv(name: string = salesDataset.name) {
  return { ...salesDataset, name, rollups: [['region'], ['product'], ['region', 'product'], []] };
}
