// A compactor in a process of its own, for the test to kill mid-statement as Lambda kills a
// container: argv = database URL, schema, dataset.
import { compactPartials } from '../../../lib/compact/compactor.ts';
import { connectDb } from '../../../lib/store/db.ts';

const [url, schema, dataset] = process.argv.slice(2);
const db = connectDb({ url: url!, schema: schema!, max: 1 });
console.log(JSON.stringify(await compactPartials(db, { dataset, concurrency: 1 })));
await db.close();
