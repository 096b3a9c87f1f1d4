#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so the repository needs no build step.
import { register } from 'tsx/esm/api';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('../lib/cli/main.ts');
