import { App } from 'aws-cdk-lib';
import { PipelineStack, pipelineStackName, readPipelineContext } from './pipelineStack.ts';

// Environment-agnostic on purpose: synth needs no AWS credentials; `cdk deploy` picks the account
// and region from the caller's profile.
const app = new App();
const context = readPipelineContext(app);
new PipelineStack(app, pipelineStackName(context.stage), context);
app.synth();
