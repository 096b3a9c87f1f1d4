import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import type { Route, RouteNotFoundResponseFn } from '@middy/http-router';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { ApiContext } from './context.ts';
import { jobRoutes } from './jobRoutes.ts';
import { operationsRoutes } from './operations.ts';
import { restRoutes } from './rest.ts';
import { ApiError, apiActions, apiRoutes, type ApiResponse } from './routes.ts';
import { stackRoute, type StackInfo } from './stackRoute.ts';

/** The API's routes (routes.ts) as @middy/http-router routes over HTTP API payload 2.0 events. */

type Event = APIGatewayProxyEventV2;
type Result = APIGatewayProxyStructuredResultV2;

function json(status: number, body: unknown): Result {
  // The data changes with every ingestion: a cached answer would be stale.
  return { statusCode: status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: JSON.stringify(body) };
}

const toResult = (response: ApiResponse) => json(response.status, response.body);

/** Every route, bound to the database (GET), the partition queue (POST: recovery), S3 and the ingest queue (jobs it opens), the tuner (tuning routes) and what the stack tells of itself. */
export function httpRoutes(ctx: ApiContext, stack: StackInfo = { uploadBucket: undefined, region: undefined }): Route<Event, Result>[] {
  // The router adds the parameters it matched to pathParameters.
  const request = (event: Event) => ({ path: event.pathParameters ?? {}, query: event.queryStringParameters ?? {}, body: jsonBody(event) });
  return [
    ...Object.values(apiRoutes).map((route) => ({
      method: 'GET' as const,
      path: route.path,
      handler: async (event: Event) => toResult(await route.handle(ctx.db, request(event))),
    })),
    ...Object.values(apiActions).map((route) => ({
      method: 'POST' as const,
      path: route.path,
      handler: async (event: Event) => toResult(await route.handle(ctx, request(event))),
    })),
    ...[...Object.values(restRoutes), ...Object.values(jobRoutes), ...Object.values(operationsRoutes), stackRoute(stack)].map((route) => ({
      method: route.method,
      path: route.path,
      handler: async (event: Event) => toResult(await route.handle(ctx, request(event))),
    })),
  ];
}

/** The request's JSON body (undefined when it has none); malformed JSON is a 400. */
function jsonBody(event: Event): unknown {
  if (event.body === undefined || event.body === '') return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(400, 'body is not valid JSON');
  }
}

/** Any other method or path: a JSON 404 (the router's default would be a bare error). */
export const routeNotFound: RouteNotFoundResponseFn = ({ method, path }) => {
  throw new ApiError(404, `no route ${method} ${path}`);
};

/**
 * Turns what a route threw into a JSON answer: a client error as itself, anything else as a
 * generic 500. The cause is logged, never returned: database errors name tables and SQL.
 */
export function jsonErrors(logger: Logger): MiddlewareObj<Event, Result> {
  return {
    onError: (request) => {
      const err = request.error;
      if (err instanceof ApiError) {
        request.response = json(err.status, { error: err.message });
        return;
      }
      logger.error('request failed', { path: request.event.rawPath, error: err });
      request.response = json(500, { error: 'internal error' });
    },
  };
}
