// Child process of the benchmark: one parse + aggregate run over a whole file in a fresh process
// (as a fresh Lambda container would), printing the records, cells and the work's own time.
// Arguments: <file> <dataset name> (a name of benchDatasets; default sales) [parquet: read it as Parquet].
import { benchDataset, parseAndAggregate } from './parseAggregate.ts';

const dataset = benchDataset(process.argv[3] ?? 'sales');
console.log(JSON.stringify(await parseAndAggregate(process.argv[2], process.argv[4] === 'parquet' ? { ...dataset, format: 'parquet' } : dataset)));
