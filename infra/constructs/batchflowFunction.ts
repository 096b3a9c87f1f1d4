import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat, type ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import { ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FunctionNetwork } from './database.ts';
import { esbuildOptions } from './functionBundling.ts';
import { functionEnvironment } from '../../lib/config.ts';
import { functionSpec, serviceName, topology, type AnyFunctionName, type FunctionName } from '../../lib/topology.ts';

/** The repository root: topology entries and package-lock.json are relative to it. */
const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface BatchflowFunctionProps {
  /** The function's key in `topology.functions`, `.scheduled` or `.deploy`: its entry, memory, timeout (and mapping settings). */
  readonly name: AnyFunctionName;
  /**
   * The queue that drives the function, consumed with the batch settings of its topology entry.
   * @default - no event source
   */
  readonly source?: IQueue;
  /**
   * The values of the function's variables: each must be one its part of the environment
   * contract (lib/config.ts) names, and every variable the contract requires must be here.
   * @default - none: only functions that need no variable of their own
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
   * The VPC subnets and security group the function runs in (to reach the database).
   * @default - outside any VPC
   */
  readonly network?: FunctionNetwork;
  /**
   * The event source mapping's maximum concurrency, when lower than the topology's (a small database).
   * @default - the topology entry's `maxConcurrency`
   */
  readonly maxConcurrency?: number;
  /**
   * Concurrency reserved for the function, which is also the most it may run at once.
   * @default - unreserved
   */
  readonly reservedConcurrency?: number;
  /**
   * A directory copied into the bundle as `<name>` and named to the function by `<env>`: files the
   * function reads at run time (the definitions the migrate function applies).
   * @default - nothing but the code
   */
  readonly bundledDirectory?: { readonly from: string; readonly name: string; readonly env: string };
}

/**
 * A batchflow Lambda function: the one place that owns function defaults (Node.js 22 on arm64,
 * ESM bundled locally by esbuild, JSON logs in a log group with a retention, the Powertools
 * service name, the VPC it reaches the database from) and builds
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
  /** The function's key in the topology. */
  public readonly name: AnyFunctionName;

  constructor(scope: Construct, id: string, props: BatchflowFunctionProps) {
    super(scope, id);
    this.name = props.name;
    this.name = props.name;
    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.function = this.createFunction(props);
    this.eventSource = props.source ? this.consume(props.name as FunctionName, props.source, props.maxConcurrency) : undefined;
  }

  /**
   * The function's own role: it may write to its own log group only (Lambda's default role may
   * write to any log group in the account). In a VPC, Lambda also needs to manage the function's
   * network interfaces: AWS's policy for that is the one managed policy it gets.
   */
  private createRole(props: BatchflowFunctionProps): Role {
    const role = new Role(this, 'ServiceRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      ...(props.network
        ? { managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole')] }
        : {}),
    });
    this.logGroup.grantWrite(role);
    return role;
  }

  private createFunction(props: BatchflowFunctionProps): NodejsFunction {
    const spec = functionSpec(props.name);
    const bundle = esbuildOptions('node22');
    return new NodejsFunction(this, 'Function', {
      role: this.createRole(props),
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
      ...(props.network
        ? { vpc: props.network.vpc, vpcSubnets: { subnets: [...props.network.subnets] }, securityGroups: [props.network.securityGroup] }
        : {}),
      ...(props.reservedConcurrency !== undefined ? { reservedConcurrentExecutions: props.reservedConcurrency } : {}),
      environment: {
        POWERTOOLS_SERVICE_NAME: serviceName(props.name),
        // Stack traces point into the TypeScript sources, not the minified bundle.
        NODE_OPTIONS: '--enable-source-maps',
        // Exactly what the function's loader reads (lib/config.ts): a variable missing here fails the synth, not a cold start.
        ...functionEnvironment(props.name, {
          ...props.environment,
          // Lambda unpacks the bundle in LAMBDA_TASK_ROOT, /var/task.
          ...(props.bundledDirectory ? { [props.bundledDirectory.env]: `/var/task/${props.bundledDirectory.name}` } : {}),
        }),
      },
      bundling: {
        // esbuild is a dev dependency: bundle on this machine, never in a Docker image.
        forceDockerBundling: false,
        // The options the local runtime bundles with too (functionBundling.ts).
        format: OutputFormat.ESM,
        mainFields: bundle.mainFields,
        banner: bundle.banner!.js,
        minify: bundle.minify,
        sourceMap: bundle.sourcemap === true,
        sourcesContent: bundle.sourcesContent,
        // The SDK version the code is tested with (package-lock.json), not the one the runtime
        // happens to ship: the S3 client relies on checksum options from 3.729.
        bundleAwsSDK: true,
        // The copied files are part of the asset: changing them changes the function's version.
        ...(props.bundledDirectory ? { commandHooks: copyInto(props.bundledDirectory) } : {}),
      },
    });
  }

  private consume(name: FunctionName, queue: IQueue, maxConcurrency: number | undefined): SqsEventSource {
    const spec = topology.functions[name];
    const eventSource = new SqsEventSource(queue, {
      batchSize: spec.batchSize,
      maxBatchingWindow: Duration.seconds(spec.maxBatchingWindowSeconds),
      maxConcurrency: maxConcurrency ?? spec.maxConcurrency,
      reportBatchItemFailures: true,
    });
    this.function.addEventSource(eventSource);
    return eventSource;
  }
}

/** Bundling hooks that copy a directory into the bundle (run locally, like esbuild). */
function copyInto(dir: { readonly from: string; readonly name: string }): ICommandHooks {
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir: string, outputDir: string) => [`cp -R ${JSON.stringify(dir.from)} ${JSON.stringify(join(outputDir, dir.name))}`],
  };
}
