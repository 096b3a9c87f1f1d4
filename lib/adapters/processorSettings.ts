import {
  DeleteFunctionConcurrencyCommand,
  GetEventSourceMappingCommand,
  GetFunctionConcurrencyCommand,
  ListEventSourceMappingsCommand,
  PutFunctionConcurrencyCommand,
  UpdateEventSourceMappingCommand,
  type EventSourceMappingConfiguration,
  type LambdaClient,
} from '@aws-sdk/client-lambda';
import { BatchflowError } from '../errors.ts';
import type { TunableSettings } from '../tune/signals.ts';

/** The levers that live in the Lambda API: the mapping's batch size and concurrency, the function's reserved concurrency. */
export type LambdaLevers = Pick<TunableSettings, 'batchSize' | 'maxConcurrency' | 'reservedConcurrency'>;

/** A queue-driven function's levers, read and moved through the Lambda API (on AWS and locally alike). */
export interface ProcessorSettings {
  /** The mapping's BatchSize and ScalingConfig.MaximumConcurrency, and the function's reserved concurrency. */
  read(): Promise<LambdaLevers>;
  /**
   * Applies the given changes (absent ones are left alone; `reservedConcurrency: null` removes the
   * reservation). Never touches the mapping's `Enabled`.
   */
  apply(changes: Partial<LambdaLevers>): Promise<void>;
}

/** Which function and mapping: the mapping is looked up by function and queue unless its UUID is known. */
export interface ProcessorTarget {
  readonly functionName: string;
  /** The queue the mapping reads from. */
  readonly queueArn: string;
  /** Saves the ListEventSourceMappings lookup when known (provisioning returns it). */
  readonly mappingUuid?: string;
}

/** There is no event source mapping from the queue to the function. */
export class MappingNotFoundError extends BatchflowError {
  override name = 'MappingNotFoundError';
}

/**
 * The Lambda-side levers of one queue-driven function. AWS accepts ScalingConfig.MaximumConcurrency
 * from 2 to 1000 and reserved concurrency up to the account's unreserved share; out-of-range values
 * are refused by the service, not here.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
 *
 * @example
 * const settings = createProcessorSettings(createLambdaClient(), { functionName, queueArn });
 * await settings.apply({ maxConcurrency: 12, reservedConcurrency: 12 });
 */
export function createProcessorSettings(client: LambdaClient, target: ProcessorTarget): ProcessorSettings {
  let uuid = target.mappingUuid;

  const mappingUuid = async (): Promise<string> => (uuid ??= await findMapping(client, target));

  const readMapping = async () => {
    const mapping = await client.send(new GetEventSourceMappingCommand({ UUID: await mappingUuid() }));
    return mappingLevers(mapping, target);
  };

  const read = async (): Promise<LambdaLevers> => {
    const [mapping, concurrency] = await Promise.all([
      readMapping(),
      client.send(new GetFunctionConcurrencyCommand({ FunctionName: target.functionName })),
    ]);
    return { ...mapping, reservedConcurrency: concurrency.ReservedConcurrentExecutions ?? null };
  };

  return {
    read,
    async apply(changes) {
      if (changes.batchSize !== undefined || changes.maxConcurrency !== undefined) {
        await client.send(
          new UpdateEventSourceMappingCommand({
            UUID: await mappingUuid(),
            ...(changes.batchSize !== undefined ? { BatchSize: changes.batchSize } : {}),
            ...(changes.maxConcurrency !== undefined ? { ScalingConfig: { MaximumConcurrency: changes.maxConcurrency } } : {}),
          }),
        );
      }
      if (changes.reservedConcurrency === null) {
        await client.send(new DeleteFunctionConcurrencyCommand({ FunctionName: target.functionName }));
      } else if (changes.reservedConcurrency !== undefined) {
        await client.send(
          new PutFunctionConcurrencyCommand({ FunctionName: target.functionName, ReservedConcurrentExecutions: changes.reservedConcurrency }),
        );
      }
    },
  };
}

/** The UUID of the mapping from `queueArn` to the function (a queue maps to a function at most once). */
export async function findMapping(client: LambdaClient, target: Omit<ProcessorTarget, 'mappingUuid'>): Promise<string> {
  let marker: string | undefined;
  do {
    // By function name, not ARN: moto matches FunctionName against the name only.
    const page = await client.send(
      new ListEventSourceMappingsCommand({ FunctionName: target.functionName, EventSourceArn: target.queueArn, Marker: marker }),
    );
    const found = page.EventSourceMappings?.find((m) => m.EventSourceArn === target.queueArn);
    if (found?.UUID) return found.UUID;
    marker = page.NextMarker;
  } while (marker);
  throw new MappingNotFoundError(`no event source mapping from ${target.queueArn} to ${target.functionName}`);
}

function mappingLevers(mapping: EventSourceMappingConfiguration, target: ProcessorTarget): Pick<LambdaLevers, 'batchSize' | 'maxConcurrency'> {
  const batchSize = mapping.BatchSize;
  const maxConcurrency = mapping.ScalingConfig?.MaximumConcurrency;
  // Without ScalingConfig, Lambda scales an SQS mapping up to the function's concurrency: no lever to read.
  if (batchSize === undefined || maxConcurrency === undefined) {
    throw new BatchflowError(`mapping ${mapping.UUID} (${target.functionName}) has no BatchSize or ScalingConfig.MaximumConcurrency`);
  }
  return { batchSize, maxConcurrency };
}
