// What the DEA's parts share: its identity, timings, instances and the IO they go through.
import type { Log } from '../log';
import type { Announcer } from './announcer';
import type { DropletCache } from './droplet-cache';
import type { Instance } from './instance';
import type { PortAllocator } from './ports';
import type { DeaTimings } from './types';

export interface DeaContext {
  readonly id: string;
  /** Announced address (routes, file URIs, dea.advertise). */
  readonly host: string;
  /** Where instances listen (VCAP_APP_HOST). */
  readonly listenHost: string;
  readonly timings: DeaTimings;
  readonly log: Log;
  readonly instances: Map<string, Instance>;
  readonly ports: PortAllocator;
  readonly cache: DropletCache;
  readonly announce: Announcer;
  readonly shuttingDown: boolean;
}
