// Worker threads on Node 20 ignore `--import tsx` in execArgv for their entry module, so each
// Lambda worker registers tsx's loader itself before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./lambdaWorker.ts');
