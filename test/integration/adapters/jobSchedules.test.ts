import { randomBytes } from 'node:crypto';
import { CreateScheduleGroupCommand, GetScheduleCommand } from '@aws-sdk/client-scheduler';
import { describe, expect, inject, it } from 'vitest';
import { createSchedulerClient } from '../../../lib/adapters/aws.ts';
import { schedulerJobSchedules } from '../../../lib/adapters/jobSchedules.ts';
import { parseAnalyticsJobDefinition } from '../../../lib/analytics/jobDefinition.ts';
import { syncSchedules } from '../../../lib/analytics/syncSchedules.ts';

const client = createSchedulerClient({ endpoint: inject('awsEndpoint'), region: inject('awsRegion') });
const settings = {
  groupName: `batchflow-jobs-${randomBytes(3).toString('hex')}`,
  roleArn: 'arn:aws:iam::123456789012:role/batchflow-scheduler',
  functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:batchflow-analytics',
};
const job = (overrides: object) =>
  parseAnalyticsJobDefinition({
    name: 'daily-sales',
    schedule: 'EVERYDAY8AMET',
    dataset: 'sales',
    entity: 'region',
    granularity: '1-day',
    delayHours: 2,
    metrics: [{ metric: 'amount', aggregations: ['sum'] }],
    ...overrides,
  });

describe('job schedules on EventBridge Scheduler', () => {
  it('creates a job schedule in its time zone, updates it in place, and deletes it', async () => {
    // Prepare
    await client.send(new CreateScheduleGroupCommand({ Name: settings.groupName }));
    const schedules = schedulerJobSchedules(client, settings);
    const get = () => client.send(new GetScheduleCommand({ Name: 'daily-sales', GroupName: settings.groupName }));

    // Act
    await schedules.put(job({}));
    const created = await get();
    await schedules.put(job({ schedule: '30 6 * * 1-5', timezone: 'Europe/Paris', enabled: false }));
    const updated = await get();
    await schedules.remove('daily-sales');
    await schedules.remove('daily-sales');

    // Assess
    expect(created.ScheduleExpression).toBe('cron(0 8 * * ? *)');
    expect(created.ScheduleExpressionTimezone).toBe('America/New_York');
    expect(created.State).toBe('ENABLED');
    expect(created.Target?.Arn).toBe(settings.functionArn);
    expect(created.Target?.RoleArn).toBe(settings.roleArn);
    expect(JSON.parse(created.Target?.Input ?? '{}')).toEqual({ job: 'daily-sales', scheduledTime: '<aws.scheduler.scheduled-time>' });
    // cron's 1-5 (Monday-Friday) is 2-6 in EventBridge's numbering; the names say it unambiguously.
    expect(updated.ScheduleExpression).toBe('cron(30 6 ? * MON,TUE,WED,THU,FRI *)');
    expect(updated.ScheduleExpressionTimezone).toBe('Europe/Paris');
    expect(updated.State).toBe('DISABLED');
    await expect(get()).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});

describe('syncSchedules', () => {
  it('puts a schedule for every job and deletes the schedules of jobs that are gone', async () => {
    // Prepare
    const group = `batchflow-sync-${randomBytes(3).toString('hex')}`;
    await client.send(new CreateScheduleGroupCommand({ Name: group }));
    const schedules = schedulerJobSchedules(client, { ...settings, groupName: group });
    await schedules.put(job({ name: 'deleted-job' }));
    await schedules.put(job({ name: 'kept-job', schedule: 'EVERYHOUR' }));
    const jobs = [job({ name: 'kept-job', schedule: 'EVERYWEEK' }), job({ name: 'new-job', enabled: false })];

    // Act
    const outcome = await syncSchedules(jobs, schedules);
    const again = await syncSchedules(jobs, schedules);
    const kept = await client.send(new GetScheduleCommand({ Name: 'kept-job', GroupName: group }));

    // Assess
    expect((await schedules.list()).sort()).toEqual(['kept-job', 'new-job']);
    expect(outcome).toEqual({ put: ['kept-job', 'new-job'], deleted: ['deleted-job'] });
    expect(again.deleted).toEqual([]);
    expect(kept.ScheduleExpression).toBe('cron(0 0 ? * SUN *)');
  });
});
