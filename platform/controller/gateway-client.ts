// The controller's side of v1's gateway interface: provision, unprovision, bind, unbind over HTTP,
// with the service token in `X-VCAP-Service-Token`. Any failure is a 503 (service gateway error).
import { z } from 'zod';
import {
  gatewayConfiguration, gatewayError, serviceTokenHeader,
  type GatewayBindRequest, type GatewayConfiguration, type GatewayProvisionRequest,
} from '../contract';
import type { HttpTls } from '../tls';
import { CcError, ErrorCodes } from './errors';

export class GatewayClient {
  constructor(private readonly token: string, private readonly tls: HttpTls, private readonly timeoutMs = 60_000) {}

  provision(url: string, req: GatewayProvisionRequest): Promise<GatewayConfiguration> {
    return this.call(gatewayConfiguration, 'POST', `${url}/gateway/v1/configurations`, req);
  }

  async unprovision(url: string, serviceId: string): Promise<void> {
    await this.call(z.unknown(), 'DELETE', `${url}/gateway/v1/configurations/${encodeURIComponent(serviceId)}`);
  }

  bind(url: string, req: GatewayBindRequest): Promise<GatewayConfiguration> {
    return this.call(gatewayConfiguration, 'POST', `${url}/gateway/v1/configurations/${encodeURIComponent(req.service_id)}/handles`, req);
  }

  async unbind(url: string, serviceId: string, handleId: string): Promise<void> {
    await this.call(z.unknown(), 'DELETE', `${url}/gateway/v1/configurations/${encodeURIComponent(serviceId)}/handles/${encodeURIComponent(handleId)}`);
  }

  private async call<S extends z.ZodType>(schema: S, method: string, url: string, body?: unknown): Promise<z.infer<S>> {
    let res: { status: number; text: string };
    try {
      res = await this.tls.send(url, {
        method, timeoutMs: this.timeoutMs,
        headers: { [serviceTokenHeader]: this.token, 'content-type': 'application/json', accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new CcError(ErrorCodes.serviceGatewayError, `the service gateway did not answer (${(e as Error).message})`, { cause: e });
    }
    const { text } = res;
    let json: unknown = {};
    try { json = text.trim() ? JSON.parse(text) : {}; } catch { /* judged below */ }
    if (res.status < 200 || res.status >= 300) {
      const err = gatewayError.safeParse(json);
      const why = err.success && err.data.description ? err.data.description : `HTTP ${res.status}`;
      throw new CcError(ErrorCodes.serviceGatewayError, `the service gateway refused: ${why}`);
    }
    const r = schema.safeParse(json);
    if (!r.success) throw new CcError(ErrorCodes.serviceGatewayError, `unexpected answer from the service gateway: ${r.error.issues[0]?.message ?? 'invalid'}`);
    return r.data;
  }
}
