import { describe, expect, it } from 'vitest';
import { PROCESSOR_FAILURE_POLICY, redeliverySeconds } from '../../../lib/adapters/transientFailures.ts';
import { topology } from '../../../lib/topology.ts';

describe('redeliverySeconds: how soon a message failed by a transient error comes back', () => {
  it('doubles per receive from 15 s up to 120 s, jittered between half and all of it', () => {
    // Prepare
    const policy = PROCESSOR_FAILURE_POLICY.redelivery;
    const receives = [1, 2, 3, 4, 5, 9];

    // Act
    const lowest = receives.map((n) => redeliverySeconds(policy, n, 0));
    const highest = receives.map((n) => redeliverySeconds(policy, n, 0.999999));

    // Assess: ceilings 15, 30, 60, 120, 120, 120
    expect(lowest).toEqual([8, 15, 30, 60, 60, 60]);
    expect(highest).toEqual([15, 30, 60, 120, 120, 120]);
  });

  it('keeps a message out of the DLQ for ~3 minutes of failures, each wait far below the queue visibility timeout', () => {
    // Prepare
    const policy = PROCESSOR_FAILURE_POLICY.redelivery;
    const receives = Array.from({ length: topology.queues.partitions.maxReceiveCount }, (_, i) => i + 1);

    // Act
    const soonest = receives.reduce((sum, n) => sum + redeliverySeconds(policy, n, 0), 0);
    const latest = Math.max(...receives.map((n) => redeliverySeconds(policy, n, 0.999999)));

    // Assess: a database back within ~3 minutes (a restart, a failover) sends no partition to the DLQ
    expect(soonest).toBeGreaterThanOrEqual(170);
    expect(latest).toBeLessThan(topology.queues.partitions.visibilityTimeoutSeconds / 10);
  });
});
