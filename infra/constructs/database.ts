import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  InterfaceVpcEndpoint,
  InterfaceVpcEndpointAwsService,
  Port,
  SecurityGroup,
  Subnet,
  SubnetType,
  Vpc,
  type ISecurityGroup,
  type ISubnet,
  type IVpc,
} from 'aws-cdk-lib/aws-ec2';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import {
  AuroraPostgresEngineVersion,
  ClusterInstance,
  Credentials,
  DatabaseCluster,
  DatabaseClusterEngine,
  DatabaseProxy,
  ProxyTarget,
} from 'aws-cdk-lib/aws-rds';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { DatabaseChoice } from '../context.ts';
import { auroraMaxConnections } from '../sizing.ts';
import type { StageConfig } from '../stages.ts';

/** Fixed, so security group rules name the port rather than a value resolved at deploy time. */
const POSTGRES_PORT = 5432;

/** Where a function runs to reach the database: none when the database is reachable from anywhere. */
export interface FunctionNetwork {
  readonly vpc: IVpc;
  readonly subnets: readonly ISubnet[];
  readonly securityGroup: ISecurityGroup;
}

export interface BatchflowDatabaseProps {
  readonly choice: DatabaseChoice;
  readonly stage: StageConfig;
  readonly schema: string;
  /** LocalStack's Postgres speaks no TLS. */
  readonly ssl: 'require' | 'disable';
}

/**
 * Postgres for the pipeline, and how functions reach it. Either it is brought (a secret, and the
 * network it is reachable from), or this creates a VPC with isolated subnets only, Aurora
 * PostgreSQL Serverless v2 and an RDS Proxy in front of it, and the VPC endpoints the functions
 * need to reach AWS APIs without a NAT gateway.
 */
export class BatchflowDatabase extends Construct {
  /** The RDS-format secret the functions read at cold start. */
  public readonly secret: ISecret;
  /** Where functions run; undefined when they run outside any VPC. */
  public readonly network: FunctionNetwork | undefined;
  /** Connections batchflow may open: RDS Proxy's share of max_connections, or the brought database's figure. */
  public readonly connections: number;
  public readonly cluster: DatabaseCluster | undefined;
  public readonly proxy: DatabaseProxy | undefined;
  public readonly vpc: IVpc | undefined;
  private readonly props: BatchflowDatabaseProps;

  /** RDS Proxy may use this share of max_connections; the rest is left for failover and operators. */
  static readonly proxyMaxConnectionsPercent = 90;

  constructor(scope: Construct, id: string, props: BatchflowDatabaseProps) {
    super(scope, id);
    this.props = props;
    if (props.choice.kind === 'external') {
      this.secret = Secret.fromSecretCompleteArn(this, 'Secret', props.choice.secretArn);
      this.network = props.choice.network ? this.importNetwork(props.choice.network) : undefined;
      this.connections = props.choice.maxConnections;
      return;
    }
    const { stage } = props;
    const vpc = this.createVpc(stage);
    this.vpc = vpc;
    const functions = new SecurityGroup(this, 'FunctionsSecurityGroup', {
      vpc,
      description: 'batchflow functions: reach RDS Proxy and the VPC endpoints',
      allowAllOutbound: true,
    });
    const rotation = new SecurityGroup(this, 'RotationSecurityGroup', {
      vpc,
      description: 'the secret rotation function: reaches the cluster and Secrets Manager',
      allowAllOutbound: true,
    });
    const endpoints = this.addEndpoints(vpc, stage);
    for (const endpoint of endpoints) endpoint.connections.allowDefaultPortFrom(functions, 'batchflow functions');
    endpoints.find((e) => e.node.id === 'SecretsManager')!.connections.allowDefaultPortFrom(rotation, 'secret rotation');
    this.network = { vpc, subnets: vpc.isolatedSubnets, securityGroup: functions };
    this.cluster = this.createCluster(vpc, stage);
    this.secret = this.cluster.secret!;
    this.cluster.addRotationSingleUser({
      automaticallyAfter: Duration.days(30),
      securityGroup: rotation,
      endpoint: endpoints.find((e) => e.node.id === 'SecretsManager')!,
    });
    this.proxy = this.cluster.addProxy('Proxy', {
      secrets: [this.secret],
      vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      requireTLS: true,
      maxConnectionsPercent: BatchflowDatabase.proxyMaxConnectionsPercent,
      // A borrow that waits longer than a processor's merge would be a saturated database: fail it
      // and let SQS redeliver rather than hold the invocation.
      borrowTimeout: Duration.seconds(60),
    });
    const port = Port.tcp(POSTGRES_PORT);
    // addProxy already lets the proxy reach the cluster.
    this.proxy.connections.allowFrom(functions, port, 'batchflow functions');
    this.connections = Math.floor(
      (auroraMaxConnections(stage.database.minCapacityAcu, stage.database.maxCapacityAcu) * BatchflowDatabase.proxyMaxConnectionsPercent) / 100,
    );
  }

  /** What a function needs to connect: the secret's ARN (never its value), the host, TLS and schema. */
  environment(): Record<string, string> {
    return {
      DATABASE_SECRET_ARN: this.secret.secretArn,
      DATABASE_SCHEMA: this.props.schema,
      DATABASE_SSL: this.props.ssl,
      // RDS keeps the cluster endpoint in the secret; functions connect through the proxy instead.
      ...(this.proxy ? { DATABASE_HOST: this.proxy.endpoint } : {}),
    };
  }

  /** Lets a function read the secret (and so connect). */
  grantConnect(fn: IFunction): void {
    this.secret.grantRead(fn);
  }

  /**
   * Isolated subnets only: nothing here reaches the internet, so there is no NAT gateway to pay
   * for. AWS APIs are reached through the endpoints below.
   */
  private createVpc(stage: StageConfig): Vpc {
    const vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      restrictDefaultSecurityGroup: true,
    });
    vpc.addFlowLog('RejectedFlows', {
      // Rejected traffic is what an investigation needs; accepted flows would cost far more to log.
      trafficType: FlowLogTrafficType.REJECT,
      destination: FlowLogDestination.toCloudWatchLogs(
        new LogGroup(this, 'FlowLogs', { retention: stage.logRetention, removalPolicy: stage.removalPolicy }),
      ),
    });
    // S3 objects are read through the free gateway endpoint.
    vpc.addGatewayEndpoint('S3', { service: GatewayVpcEndpointAwsService.S3 });
    return vpc;
  }

  /** The interface endpoints the functions call AWS through, in the stage's number of AZs. */
  private addEndpoints(vpc: Vpc, stage: StageConfig): InterfaceVpcEndpoint[] {
    const subnets = { subnets: vpc.isolatedSubnets.slice(0, stage.endpointAzs) };
    const services: Record<string, InterfaceVpcEndpointAwsService> = {
      // The splitter sends partitions.
      Sqs: InterfaceVpcEndpointAwsService.SQS,
      // Every function reads the database secret at cold start; rotation writes it.
      SecretsManager: InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      // The tuner reads metrics (EMF metrics go out through the logs, which need no endpoint).
      CloudWatch: InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
      // The tuner updates the processor's mapping and reserved concurrency.
      Lambda: InterfaceVpcEndpointAwsService.LAMBDA,
      // The schedule sync creates and deletes job schedules.
      Scheduler: new InterfaceVpcEndpointAwsService('scheduler'),
    };
    // `open: false`: only the security groups allowed above reach them, not the whole VPC.
    return Object.entries(services).map(([id, service]) => vpc.addInterfaceEndpoint(id, { service, subnets, privateDnsEnabled: true, open: false }));
  }

  private createCluster(vpc: Vpc, stage: StageConfig): DatabaseCluster {
    const { database } = stage;
    return new DatabaseCluster(this, 'Cluster', {
      engine: DatabaseClusterEngine.auroraPostgres({ version: AuroraPostgresEngineVersion.VER_17_7 }),
      port: POSTGRES_PORT,
      credentials: Credentials.fromGeneratedSecret('batchflow'),
      defaultDatabaseName: 'batchflow',
      vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      serverlessV2MinCapacity: database.minCapacityAcu,
      serverlessV2MaxCapacity: database.maxCapacityAcu,
      writer: ClusterInstance.serverlessV2('Writer', { enablePerformanceInsights: true }),
      readers: Array.from({ length: database.readers }, (_, i) =>
        ClusterInstance.serverlessV2(`Reader${i + 1}`, { scaleWithWriter: true, enablePerformanceInsights: true }),
      ),
      storageEncrypted: true,
      iamAuthentication: false,
      backup: { retention: Duration.days(database.backupRetentionDays) },
      deletionProtection: database.deletionProtection,
      removalPolicy: stage.removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.SNAPSHOT,
      cloudwatchLogsExports: ['postgresql'],
      cloudwatchLogsRetention: stage.logRetention,
    });
  }

  private importNetwork(network: NonNullable<Extract<DatabaseChoice, { kind: 'external' }>['network']>): FunctionNetwork {
    const stack = Stack.of(this);
    return {
      // Only the id is used (the functions name their subnets): no lookup, so synth stays offline.
      vpc: Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: network.vpcId, availabilityZones: stack.availabilityZones }),
      subnets: network.subnetIds.map((id, i) => Subnet.fromSubnetId(this, `Subnet${i}`, id)),
      securityGroup: SecurityGroup.fromSecurityGroupId(this, 'SecurityGroup', network.securityGroupId, { mutable: false }),
    };
  }
}
