import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * AWS SDK v3 clients, built the same way everywhere. The endpoint comes from the standard
 * `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables the SDK reads itself, so the same
 * code talks to AWS, LocalStack or moto unchanged.
 */
export interface AwsClientOptions {
  /** Overrides the SDK's own endpoint resolution (tests and the local runtime). */
  readonly endpoint?: string;
  readonly region?: string;
  /** Explicit credentials (the CLI against the local stack); otherwise the SDK's own chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/**
 * An S3 client. Checksums only when required: with the SDK's default (`WHEN_SUPPORTED`) a stream
 * body is sent aws-chunked, which moto decodes quadratically (100 MB took 39 s). Path-style
 * addressing works against every endpoint.
 */
export function createS3Client(options: AwsClientOptions = {}): S3Client {
  return new S3Client({
    ...clientConfig(options),
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Endpoint, region and credentials when given; otherwise the SDK resolves them itself. */
function clientConfig(options: AwsClientOptions): { endpoint?: string; region?: string; credentials?: { accessKeyId: string; secretAccessKey: string } } {
  return {
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.region ? { region: options.region } : {}),
    ...(options.credentials ? { credentials: { ...options.credentials } } : {}),
  };
}

/** An SQS client. */
export function createSqsClient(options: AwsClientOptions = {}): SQSClient {
  return new SQSClient(clientConfig(options));
}

/** An EventBridge Scheduler client. */
export function createSchedulerClient(options: AwsClientOptions = {}): SchedulerClient {
  return new SchedulerClient(clientConfig(options));
}

/** A Lambda client (event source mappings and function concurrency: the tuner's levers). */
export function createLambdaClient(options: AwsClientOptions = {}): LambdaClient {
  return new LambdaClient(clientConfig(options));
}

/** A CloudWatch client (GetMetricData for the tuner; PutMetricData for the local runtime). */
export function createCloudWatchClient(options: AwsClientOptions = {}): CloudWatchClient {
  return new CloudWatchClient(clientConfig(options));
}

/** An IAM client (the local provisioning creates the functions' execution role). */
export function createIamClient(options: AwsClientOptions = {}): IAMClient {
  return new IAMClient(clientConfig(options));
}
