// The HTTP wire between the cloud controller and a service gateway (v1's vcap-services-base
// gateway): declared once in platform/contract; this file only names what this gateway answers.
import type { GatewayConfiguration } from '../contract';
import type { ServiceCredentials } from '../bus';

export {
  gatewayBindRequest, gatewayError, gatewayProvisionRequest, serviceOffering, serviceTokenHeader,
  type GatewayBindRequest, type GatewayConfiguration, type GatewayProvisionRequest, type ServiceOffering,
} from '../contract';

/** The credentials a node made, as an app sees them (the node's id stays with the gateway). */
export type GatewayCredentials = Omit<ServiceCredentials, 'node_id'>;

/** This gateway's answer to a provision or a bind: the contract's configuration, with its fields filled. */
export interface GatewayHandle extends GatewayConfiguration {
  configuration: { plan: string; version: string; [key: string]: unknown };
  credentials: GatewayCredentials;
}
