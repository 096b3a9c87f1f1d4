import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ListSchedulesCommand,
  ResourceNotFoundException,
  type SchedulerClient,
  UpdateScheduleCommand,
  type CreateScheduleCommandInput,
} from '@aws-sdk/client-scheduler';
import type { AnalyticsJobDefinition } from '../analytics/jobDefinition.ts';
import type { AnalyticsJobSchedules } from '../analytics/ports.ts';
import { parseSchedule, toEventBridgeScheduleExpression } from '../analytics/schedule.ts';

/** Where job schedules live and what they invoke (the stack's outputs). */
export interface JobScheduleSettings {
  readonly groupName: string;
  readonly roleArn: string;
  readonly functionArn: string;
}

/**
 * AnalyticsJobSchedules over EventBridge Scheduler, which evaluates cron expressions in the schedule's time
 * zone — so a job at 8 AM America/New_York fires at 8 AM local time across DST. The payload carries
 * the scheduled time, so a retried invocation still computes the window it was scheduled for.
 */
export function schedulerJobSchedules(client: SchedulerClient, settings: JobScheduleSettings): AnalyticsJobSchedules {
  const input = (job: AnalyticsJobDefinition): CreateScheduleCommandInput => {
    const { expression, timezone } = toEventBridgeScheduleExpression(parseSchedule(job.schedule, job.timezone));
    return {
      Name: job.name,
      GroupName: settings.groupName,
      ScheduleExpression: expression,
      ScheduleExpressionTimezone: timezone,
      State: job.enabled ? 'ENABLED' : 'DISABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Description: `batchflow analytics job ${job.name} (${job.dataset}, ${job.granularity})`,
      Target: {
        Arn: settings.functionArn,
        RoleArn: settings.roleArn,
        Input: JSON.stringify({ job: job.name, scheduledTime: '<aws.scheduler.scheduled-time>' }),
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
      },
    };
  };
  return {
    async put(job) {
      try {
        await client.send(new UpdateScheduleCommand(input(job)));
      } catch (err) {
        if (!(err instanceof ResourceNotFoundException) && (err as Error).name !== 'ResourceNotFoundException') throw err;
        await client.send(new CreateScheduleCommand(input(job)));
      }
    },
    async remove(name) {
      try {
        await client.send(new DeleteScheduleCommand({ Name: name, GroupName: settings.groupName }));
      } catch (err) {
        if ((err as Error).name !== 'ResourceNotFoundException') throw err;
      }
    },
    async list() {
      const names: string[] = [];
      let NextToken: string | undefined;
      do {
        const page = await client.send(new ListSchedulesCommand({ GroupName: settings.groupName, NextToken }));
        for (const s of page.Schedules ?? []) if (s.Name) names.push(s.Name);
        NextToken = page.NextToken;
      } while (NextToken);
      return names;
    },
  };
}
