import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { pipelineStackName, readDeploymentContext } from './context.ts';
import { suppressAcceptedFindings } from './nagSuppressions.ts';
import { PipelineStack } from './pipelineStack.ts';

/**
 * The app `cdk synth` and the tests build: the stage's stack from the context, checked by cdk-nag's
 * AwsSolutions rules. An unacknowledged finding interrupts synthesis with a report.
 */
export function addPipeline(app: App): PipelineStack {
  const deployment = readDeploymentContext(app);
  const stack = new PipelineStack(app, pipelineStackName(deployment.stage), {
    deployment,
    description: `batchflow (${deployment.stage}): S3 uploads split, aggregated into Postgres, analysed on schedules`,
  });
  suppressAcceptedFindings(stack, { disposable: !stack.stage.database.deletionProtection });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return stack;
}
