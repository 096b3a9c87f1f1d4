import type { LambdaClient } from '@aws-sdk/client-lambda';
import { createProcessorSettings, type ProcessorSettings, type ProcessorTarget } from '../../../lib/adapters/processorSettings.ts';
import { topology, type FunctionName } from '../../../lib/topology.ts';

/** The event source mapping settings the SQS poller applies to one function. */
export interface MappingSettings {
  /** Records per invocation (SQS receives at most 10 at a time). */
  readonly batchSize: number;
  /** Invocations in flight at once (0: none, as with a reserved concurrency of 0). */
  readonly maxConcurrency: number;
}

/**
 * Where the SQS poller reads mapping settings from; it asks again every few seconds, so a
 * source that changes (a tuner writing to the event source mapping) takes effect while running.
 */
export interface MappingSettingsSource {
  read(functionKey: string): Promise<MappingSettings>;
}

/** Settings as `topology` declares them (what the CDK stack deploys). */
export const topologyMappings: MappingSettingsSource = {
  async read(functionKey) {
    const fn = topology.functions[functionKey as FunctionName];
    if (!fn) throw new Error(`no function "${functionKey}" in topology`);
    return { batchSize: fn.batchSize, maxConcurrency: fn.maxConcurrency };
  },
};

/**
 * Settings as the event source mappings at the endpoint hold them, where the tuner writes them:
 * BatchSize and ScalingConfig.MaximumConcurrency, the latter capped by the function's reserved
 * concurrency when one is set. (On AWS, invocations beyond the reserved concurrency are throttled
 * and their messages return to the queue; here they are simply not received.)
 *
 * @example
 * const lambda = createLambdaClient({ endpoint, region });
 * const mappings = eventSourceMappings(lambda, { processor: { functionName, queueArn, mappingUuid } });
 */
export function eventSourceMappings(client: LambdaClient, targets: Readonly<Record<string, ProcessorTarget>>): MappingSettingsSource {
  const settings = new Map<string, ProcessorSettings>();
  return {
    async read(functionKey) {
      const target = targets[functionKey];
      if (!target) throw new Error(`no event source mapping known for "${functionKey}"`);
      let levers = settings.get(functionKey);
      if (!levers) settings.set(functionKey, (levers = createProcessorSettings(client, target)));
      const { batchSize, maxConcurrency, reservedConcurrency } = await levers.read();
      return { batchSize, maxConcurrency: reservedConcurrency === null ? maxConcurrency : Math.min(maxConcurrency, reservedConcurrency) };
    },
  };
}

/** The most records one ReceiveMessage returns. https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html */
export const SQS_MAX_RECEIVE = 10;

/** Checks settings from any source, clamping batchSize to what one receive can return. */
export function normaliseSettings(settings: MappingSettings): MappingSettings {
  const { batchSize, maxConcurrency } = settings;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`invalid batchSize ${batchSize}`);
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 0) throw new Error(`invalid maxConcurrency ${maxConcurrency}`);
  return { batchSize: Math.min(batchSize, SQS_MAX_RECEIVE), maxConcurrency };
}
