// Services: the one public entry of platform/services. Nodes run the real servers (PostgreSQL,
// Redis, MySQL/MariaDB) and hold the data; gateways speak v1's HTTP gateway protocol to the
// cloud controller and reach the nodes over NATS.
import type { Bus, ServiceType } from '../bus';
import { UserFacingError, type Log } from '../log';
import type { HttpTls } from '../tls';
import { ServiceGateway } from './gateway';
import { findInstallations } from './installations';
import { ServiceNode } from './node';

export { ServiceGateway, type ServiceGatewayOptions } from './gateway';
export { ServiceNode, ServicePlans, type ServiceNodeOptions } from './node';
export { ServiceError, ServiceErrorCodes, type ServiceErrorKind } from './errors';
export { findInstallations } from './installations';
export type { Installation } from './driver';
export * from './gateway-wire';

export interface StartServicesOptions {
  bus: Bus;
  log: Log;
  dataDir: string;
  /** The cloud controller's base URL, where gateways post their offerings. */
  api?: string;
  /** Shared by the controller and the gateways (`X-VCAP-Service-Token`). */
  serviceToken: string;
  /** Address the servers and gateways listen on (default 127.0.0.1). */
  host?: string;
  /** Address in the gateways' URLs (default: `host`). */
  advertise?: string;
  /** HTTPS for the gateways (default: plain). */
  tls?: HttpTls;
  /** Default: every type whose server is installed. */
  types?: readonly ServiceType[];
}

export interface RunningServices {
  nodes: ServiceNode[];
  gateways: ServiceGateway[];
  stop(): Promise<void>;
}

/** Starts a node and a gateway for each installed service type; what started is stopped if one fails. */
export async function startServices(opts: StartServicesOptions): Promise<RunningServices> {
  const nodes: ServiceNode[] = [];
  const gateways: ServiceGateway[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(gateways.map((g) => g.stop()));
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (const install of findInstallations(opts.types)) {
      const log = opts.log.child(install.type);
      nodes.push(await ServiceNode.start({ bus: opts.bus, log, dataDir: opts.dataDir, install, host: opts.host, advertise: opts.advertise }));
      gateways.push(await ServiceGateway.start({ bus: opts.bus, log, dataDir: opts.dataDir, install, api: opts.api, serviceToken: opts.serviceToken, host: opts.host, advertise: opts.advertise, tls: opts.tls }));
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { nodes, gateways, stop };
}

export interface ServiceNodeRunOptions {
  bus: Bus;
  log: Log;
  dataDir: string;
  host?: string;
  advertise?: string;
  capacity?: number;
}

/** One node alone (`pocket service-node TYPE --nats URL`): its gateway runs with the platform. */
export async function runServiceNode(type: ServiceType, opts: ServiceNodeRunOptions): Promise<ServiceNode> {
  const [install] = findInstallations([type]);
  if (!install) throw new UserFacingError(`No ${type} server is installed here (scripts/setup.sh installs it).`);
  return ServiceNode.start({ ...opts, install });
}
