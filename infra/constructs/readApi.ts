import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { RemovalPolicy } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { BatchflowFunction } from './batchflowFunction.ts';

export interface ReadApiProps {
  readonly handler: BatchflowFunction;
  readonly logRetention: RetentionDays;
  readonly removalPolicy: RemovalPolicy;
}

/**
 * The read-only HTTP API over jobs, rejects, analytics results and tuning history (functions/api.ts).
 * Callers sign requests with SigV4 (IAM authorization): access is granted with `execute-api:Invoke`
 * in the caller's IAM policy, as for any other AWS API, and nothing here issues credentials.
 */
export class ReadApi extends Construct {
  public readonly api: HttpApi;
  public readonly stage: HttpStage;

  constructor(scope: Construct, id: string, props: ReadApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', {
      description: 'batchflow: jobs, partitions, datasets, queries, analytics, metrics and recovery (IAM-authorised)',
      createDefaultStage: false,
      defaultAuthorizer: new HttpIamAuthorizer(),
    });
    this.api.addRoutes({
      path: '/{proxy+}',
      // GET reads; POST, PUT and DELETE change things (recovery, runs, datasets). IAM authorises each
      // request by its route (execute-api:Invoke on .../<stage>/<METHOD>/<path>), so a policy can
      // grant the GET routes alone.
      methods: [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.DELETE],
      integration: new HttpLambdaIntegration('Handler', props.handler.function),
    });
    const accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention, removalPolicy: props.removalPolicy });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      autoDeploy: true,
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs) },
      // A read API has no business taking bursts that would crowd the processors' connections.
      throttle: { rateLimit: 20, burstLimit: 40 },
    });
  }

  get url(): string {
    return this.stage.url;
  }
}
