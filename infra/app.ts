import { App } from 'aws-cdk-lib';
import { addPipeline } from './batchflowApp.ts';

// Environment-agnostic on purpose: synth needs no AWS credentials; `cdk deploy` picks the account
// and region from the caller's profile.
const app = new App();
addPipeline(app);
app.synth();
