// Child process of the benchmark: process a file as a processor container would — partition after
// partition (planned as the splitter plans them, ends aligned with findRecordStart), an aggregator
// flushed every DEFAULTS.partialFlushCells cells, its groups encoded as the partial rows COPY gets
// and released — and print the peak RSS. Arguments: <file> <dataset name> (default sales). The
// pure path: no S3 reads, and the encoded rows go nowhere instead of to Postgres. The benchmark runs
// it from its esbuild bundle (functionBundle), as Lambda runs the processor's.
import { createReadStream, openSync, readSync, readFileSync, statSync } from 'node:fs';
import { parseCsvHeader } from '../../lib/parse/header.ts';
import { createRecordReader } from '../../lib/parse/reader.ts';
import { DEFAULTS } from '../../lib/config.ts';
import { createRollupAggregator } from '../../lib/rollup/aggregator.ts';
import { BinaryRowEncoder } from '../../lib/store/partials.ts';
import { findRecordStart } from '../../lib/process/boundary.ts';
import { planByteRanges } from '../../lib/split/partitionPlan.ts';
import { topology } from '../../lib/topology.ts';
import { benchDataset } from './parseAggregate.ts';

const file = process.argv[2];
const dataset = benchDataset(process.argv[3] ?? 'sales');
const size = statSync(file).size;
const fd = openSync(file, 'r');
const read = async (start: number, end: number) => {
  const buf = Buffer.alloc(end - start);
  readSync(fd, buf, 0, buf.length, start);
  return buf;
};
const header = parseCsvHeader(await read(0, Math.min(size, 65536)), size <= 65536)!;
const { partitionBytes, maxRecordBytes } = topology.ingest;
const plans = planByteRanges({ key: file, objectSize: size, dataStart: header.dataStart, partitionBytes, maxRecordBytes });
let records = 0;
let cells = 0;
for (const p of plans) {
  const options = { format: 'csv', objectSize: size, dataStart: header.dataStart, maxRecordBytes } as const;
  const start = await findRecordStart(read, p.rangeStart, options);
  const end = await findRecordStart(read, p.rangeEnd, options);
  let aggregator = createRollupAggregator(dataset);
  const encoder = new BinaryRowEncoder({ dataset: dataset.name, jobId: 1, idx: p.idx, metrics: dataset.metrics });
  const flush = () => {
    cells += aggregator.size;
    encoder.start();
    for (const group of aggregator.groups()) {
      encoder.row(group);
      if (encoder.length >= 1 << 20) encoder.take();
    }
    encoder.end();
    aggregator = createRollupAggregator(dataset);
  };
  const reader = createRecordReader({ ...dataset, columns: header.columns }, { accept: (t, d, m) => aggregator.add(t, d, m), reject: () => {} }, { baseOffset: start, maxRecordBytes });
  if (end > start) {
    for await (const chunk of createReadStream(file, { start, end: end - 1, highWaterMark: 1 << 20 })) {
      reader.push(chunk as Buffer);
      if (aggregator.size >= DEFAULTS.partialFlushCells) flush();
    }
  }
  records += reader.end().records;
  flush();
}
// VmHWM: this process's peak resident set (getrusage's maxrss would include the parent's peak, which
// Linux carries across exec).
const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
console.log(JSON.stringify({ records, partitions: plans.length, cells, peakRssBytes: hwm }));
