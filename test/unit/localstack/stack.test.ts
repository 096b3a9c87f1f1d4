import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { localConcurrency } from '../../../localstack/stack.ts';

describe('localConcurrency', () => {
  it('is one invocation per core unless BATCHFLOW_LOCAL_CONCURRENCY says otherwise', () => {
    // Act + Assess
    expect(localConcurrency({})).toBe(availableParallelism());
    expect(localConcurrency({ BATCHFLOW_LOCAL_CONCURRENCY: '' })).toBe(availableParallelism());
    expect(localConcurrency({ BATCHFLOW_LOCAL_CONCURRENCY: '8' })).toBe(8);
  });

  it.each(['0', '-1', '2.5', 'many'])('refuses BATCHFLOW_LOCAL_CONCURRENCY=%s, naming the variable', (value) => {
    // Act + Assess
    expect(() => localConcurrency({ BATCHFLOW_LOCAL_CONCURRENCY: value })).toThrow(/BATCHFLOW_LOCAL_CONCURRENCY must be a whole number ≥ 1/);
  });
});
