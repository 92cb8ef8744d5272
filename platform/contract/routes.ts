// Which schema each REST route answers with, so that any reader of a raw answer (the controller's
// own checks in tests, a test's raw requests) decodes it with the same contract as the client.
import type { z } from 'zod';
import {
  app, appCreated, appEvents, appList, appStats, crashList, dropletReceived, empty, errorBody, info, instanceList,
  instanceRestart, resourceList, runtimesInfo, stagingCancelled, uploadResult,
} from './rest';
import { serviceInstance, serviceInstanceList, servicesInfo } from './services';
import { tokenIssued, userInfo, userList } from './users';

export interface RestRoute {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** The route as documented (`GET /apps/:name`). */
  name: string;
  pattern: RegExp;
  /** The JSON body of a 2xx answer; null where the answer is not JSON (zips, files, the event stream). */
  response: z.ZodType | null;
}

const seg = '[^/]+';
const route = (method: RestRoute['method'], name: string, path: string, response: z.ZodType | null): RestRoute =>
  ({ method, name: `${method} ${name}`, pattern: new RegExp(`^${path}$`), response });

export const restRoutes: readonly RestRoute[] = [
  route('GET', '/info', '/info', info),
  route('GET', '/info/runtimes', '/info/runtimes', runtimesInfo),
  route('GET', '/info/services', '/info/services', servicesInfo),
  route('GET', '/apps', '/apps', appList),
  route('POST', '/apps', '/apps', appCreated),
  route('GET', '/apps/:name', `/apps/${seg}`, app),
  route('PUT', '/apps/:name', `/apps/${seg}`, app),
  route('DELETE', '/apps/:name', `/apps/${seg}`, empty),
  route('PUT', '/apps/:name/application', `/apps/${seg}/application`, uploadResult),
  route('POST', '/apps/:name/application', `/apps/${seg}/application`, uploadResult),
  route('GET', '/apps/:name/application', `/apps/${seg}/application`, null),
  route('DELETE', '/apps/:name/staging', `/apps/${seg}/staging`, stagingCancelled),
  route('GET', '/apps/:name/instances', `/apps/${seg}/instances`, instanceList),
  route('GET', '/apps/:name/stats', `/apps/${seg}/stats`, appStats),
  route('GET', '/apps/:name/crashes', `/apps/${seg}/crashes`, crashList),
  route('GET', '/apps/:name/events', `/apps/${seg}/events`, appEvents),
  route('GET', '/apps/:name/instances/:idx/files/*path', `/apps/${seg}/instances/${seg}/files(?:/.*)?`, null),
  route('DELETE', '/apps/:name/instances/:idx', `/apps/${seg}/instances/${seg}`, instanceRestart),
  route('POST', '/resources', '/resources', resourceList),
  route('GET', '/events', '/events', null),
  route('GET', '/staging/:id/:task/package', `/staging/\\d+/${seg}/package`, null),
  route('PUT', '/staging/:id/:task/droplet', `/staging/\\d+/${seg}/droplet`, dropletReceived),
  route('GET', '/droplets/:id/:sha1', '/droplets/\\d+/[0-9a-f]{40}', null),
  route('GET', '/services', '/services', serviceInstanceList),
  route('POST', '/services', '/services', serviceInstance),
  route('GET', '/services/:name', `/services/${seg}`, serviceInstance),
  route('DELETE', '/services/:name', `/services/${seg}`, empty),
  route('POST', '/services/v1/offerings', '/services/v1/offerings', empty),
  route('DELETE', '/services/v1/offerings/:label', `/services/v1/offerings/${seg}`, empty),
  route('POST', '/users/:email/tokens', `/users/${seg}/tokens`, tokenIssued),
  route('DELETE', '/users/:email/tokens', `/users/${seg}/tokens`, empty),
  route('GET', '/users', '/users', userList),
  route('POST', '/users', '/users', empty),
  route('GET', '/users/:email', `/users/${seg}`, userInfo),
  route('PUT', '/users/:email', `/users/${seg}`, empty),
  route('DELETE', '/users/:email', `/users/${seg}`, empty),
];

/** The route a request goes to (HEAD as GET), or undefined for a path the API does not serve. */
export function restRouteOf(method: string, pathname: string): RestRoute | undefined {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  return restRoutes.find((r) => r.method === m && r.pattern.test(pathname));
}

/** The schema of an answer: the error body for any 4xx/5xx, else the route's own (null: not JSON). */
export function answerSchemaOf(method: string, pathname: string, status: number): z.ZodType | null | undefined {
  if (status >= 400) return errorBody;
  return restRouteOf(method, pathname)?.response;
}
