import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createLambdaClient } from '../../../../../lib/adapters/aws.ts';
import { createProcessorSettings } from '../../../../../lib/adapters/processorSettings.ts';
import { connectDb } from '../../../../../lib/store/db.ts';
import { listTuningHistory } from '../../../../../lib/store/performance.ts';
import { defaultBounds } from '../../../../../lib/tune/controlLaw.ts';
import { startLocalStack } from '../../../../../localstack/stack.ts';
import { uniqueStage, waitFor } from '../../support.ts';

const endpoint = inject('awsEndpoint');
const databaseUrl = inject('databaseUrl');
const schema = `it_localstack_tuner_${randomBytes(3).toString('hex')}`;
const db = connectDb({ url: databaseUrl, schema, max: 1 });

afterAll(async () => {
  await db.sql`drop schema if exists ${db.sql(schema)} cascade`;
  await db.close();
});

describe('the local tuner schedule', () => {
  it('runs the tuner function, whose applied change reaches the mapping and the runtime within seconds', async () => {
    // Prepare
    const lines: string[] = [];
    const stack = await startLocalStack({
      stage: uniqueStage('it-tuner'),
      endpoint,
      databaseUrl,
      databaseSchema: schema,
      tunerIntervalMs: 1_000,
      tunerApply: true,
      log: (line) => lines.push(line),
    });
    const processor = stack.provisioned.functions.processor;
    const levers = createProcessorSettings(createLambdaClient({ endpoint, region: stack.state.region }), {
      functionName: processor.name,
      queueArn: stack.provisioned.queues.partitions.arn,
      mappingUuid: processor.mappingUuid,
    });
    // Below the AWS minimum (moto accepts it): the law brings it back to its bound, data or not.
    await levers.apply({ maxConcurrency: 1 });

    // Act
    try {
      await waitFor(async () => (await levers.read()).maxConcurrency === defaultBounds.minConcurrency || undefined, 30_000, 'the tuner to raise the mapping');
      await waitFor(async () => stack.sqsPoller.stats[processor.name].settings.maxConcurrency === defaultBounds.minConcurrency || undefined, 15_000, 'the runtime to follow');
    } finally {
      await stack.stop();
    }
    const history = await listTuningHistory(db);

    // Assess
    expect(history.find((h) => h.parameter === 'maxConcurrency')).toMatchObject({ oldValue: 1, newValue: defaultBounds.minConcurrency });
    expect(lines.some((l) => /tuner applied: maxConcurrency 1 → 2/.test(l))).toBe(true);
  });
});
