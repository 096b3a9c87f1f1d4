// Child process of the benchmark: one parse + aggregate run over a whole file in a fresh process
// (as a fresh Lambda container would), printing the records, cells and the work's own time.
import { parseDatasetDefinition } from '../../lib/datasets/definition.ts';
import { salesDataset } from '../../localstack/demo/sampleData.ts';
import { parseAndAggregate } from './parseAggregate.ts';

console.log(JSON.stringify(await parseAndAggregate(process.argv[2], parseDatasetDefinition(salesDataset))));
