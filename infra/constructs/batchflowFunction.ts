import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { functionSpec, topology, type AnyFunctionName, type FunctionName } from '../../lib/topology.ts';

/** The repository root: topology entries and package-lock.json are relative to it. */
const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * esbuild's ESM output has no `require`; bundled CommonJS dependencies that call it need one.
 * Aliased so it cannot clash with a `createRequire` import in the bundled code.
 */
const esmRequireBanner =
  "import { createRequire as batchflowCreateRequire } from 'node:module'; const require = batchflowCreateRequire(import.meta.url);";

export interface BatchflowFunctionProps {
  /** The function's key in `topology.functions`, `.scheduled` or `.deploy`: its entry, memory, timeout (and mapping settings). */
  readonly name: AnyFunctionName;
  /**
   * The queue that drives the function, consumed with the batch settings of its topology entry.
   * @default - no event source
   */
  readonly source?: IQueue;
  /**
   * Extra environment variables (see lib/config.ts for what the functions read).
   * @default - only the defaults this construct sets
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * How long the function's logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * `POWERTOOLS_SERVICE_NAME`, the `service` key of every log line.
   * @default 'batchflow'
   */
  readonly serviceName?: string;
}

/**
 * A batchflow Lambda function: the one place that owns function defaults (Node.js 22 on arm64,
 * ESM bundled locally by esbuild, JSON logs in a log group with a retention) and builds
 * memory, timeout and its SQS event source from `topology.functions[name]`.
 *
 * @example
 * const splitter = new BatchflowFunction(this, 'Splitter', { name: 'splitter', source: ingestQueue });
 * partitionQueue.grantSendMessages(splitter.function);
 */
export class BatchflowFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly logGroup: LogGroup;
  public readonly eventSource: SqsEventSource | undefined;

  constructor(scope: Construct, id: string, props: BatchflowFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.function = this.createFunction(props);
    this.eventSource = props.source ? this.consume(props.name as FunctionName, props.source) : undefined;
  }

  private createFunction(props: BatchflowFunctionProps): NodejsFunction {
    const spec = functionSpec(props.name);
    return new NodejsFunction(this, 'Function', {
      entry: join(projectRoot, spec.entry),
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? 'batchflow',
        // Stack traces point into the TypeScript sources, not the minified bundle.
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        // esbuild is a dev dependency: bundle on this machine, never in a Docker image.
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: esmRequireBanner,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        // The SDK version the code is tested with (package-lock.json), not the one the runtime
        // happens to ship: the S3 client relies on checksum options from 3.729.
        bundleAwsSDK: true,
      },
    });
  }

  private consume(name: FunctionName, queue: IQueue): SqsEventSource {
    const spec = topology.functions[name];
    const eventSource = new SqsEventSource(queue, {
      batchSize: spec.batchSize,
      maxBatchingWindow: Duration.seconds(spec.maxBatchingWindowSeconds),
      maxConcurrency: spec.maxConcurrency,
      reportBatchItemFailures: true,
    });
    this.function.addEventSource(eventSource);
    return eventSource;
  }
}
