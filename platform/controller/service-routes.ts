// The services routes: v1's legacy `/services` for users, and `/services/v1/offerings` for gateways,
// which authenticate with `X-VCAP-Service-Token` instead of a user's token.
import type { IncomingMessage } from 'node:http';
import { serviceTokenHeader, type ServiceInstance } from '../contract';
import type { Register } from './api';
import type { DesiredState } from './desired-state';
import { CcError, ErrorCodes } from './errors';
import { readJson, sendJson, tokenMatches } from './http-util';
import type { ServiceInstances } from './service-instances';
import type { ServiceOfferings } from './service-offerings';
import type { Store } from './store';

export interface ServiceRouteDeps {
  services: ServiceInstances;
  offerings: ServiceOfferings;
  apps: Pick<DesiredState, 'bindingsChanged'>;
  store: Pick<Store, 'getApp'>;
  /** The platform's service token, which gateways present. */
  token: string;
}

const seg = '([^/]+)';

export function serviceRoutes(r: Register, d: ServiceRouteDeps): void {
  const gatewayOnly = (req: IncomingMessage): void => {
    const given = req.headers[serviceTokenHeader.toLowerCase()];
    if (!tokenMatches(typeof given === 'string' ? given : undefined, d.token)) throw new CcError(ErrorCodes.forbidden, `a valid ${serviceTokenHeader} header is required`);
  };
  r('POST', '/services/v1/offerings', async (c) => {
    gatewayOnly(c.req);
    d.offerings.announce(await readJson(c.req));
    sendJson(c.res, 200, {});
  }, 'public');
  r('DELETE', `/services/v1/offerings/${seg}`, (c) => {
    gatewayOnly(c.req);
    if (!d.offerings.withdraw(c.params[0])) throw new CcError(ErrorCodes.serviceNotFound, `no offering ${c.params[0]}`);
    sendJson(c.res, 200, {});
  }, 'public');

  r('GET', '/services', (c) => sendJson(c.res, 200, d.services.list(c.user).map((s) => d.services.view(s)) satisfies ServiceInstance[]));
  r('POST', '/services', async (c) => {
    const s = await d.services.provision(c.user, await readJson(c.req));
    sendJson(c.res, 200, d.services.view(s) satisfies ServiceInstance);
  });
  r('GET', `/services/${seg}`, (c) => sendJson(c.res, 200, d.services.view(d.services.get(c.user, c.params[0]), true) satisfies ServiceInstance));
  r('DELETE', `/services/${seg}`, async (c) => {
    const s = d.services.get(c.user, c.params[0]);
    // As v1 did: the bindings go with the service, and the bound apps restart without it.
    const apps = await d.services.unprovision(s);
    for (const id of apps) await d.apps.bindingsChanged(id);
    sendJson(c.res, 200, {});
  });
}
