// Every NATS subject the platform uses. v1 names are kept; additions are marked.
export const Subjects = {
  /** cc -> stager, request/reply, queue group `staging`. */
  staging: 'staging',
  /** Addition: cc -> stagers, cancel a running staging task (request/reply, queue group `staging.stop` not used: every stager checks). */
  stagingStop: 'staging.stop',
  /** Addition: stager -> anyone, one message per staging log line as it is written. */
  stagingLog: (droplet: number): string => `staging.log.${droplet}`,
  stagingLogAll: 'staging.log.*',

  deaAdvertise: 'dea.advertise',
  deaLocate: 'dea.locate',
  deaDiscover: 'dea.discover',
  deaStart: (deaId: string): string => `dea.${deaId}.start`,
  deaStop: 'dea.stop',
  deaUpdate: 'dea.update',
  deaFindDroplet: 'dea.find.droplet',
  deaHeartbeat: 'dea.heartbeat',
  dropletExited: 'droplet.exited',
  dropletUpdated: 'droplet.updated',

  routerRegister: 'router.register',
  routerUnregister: 'router.unregister',
  routerStart: 'router.start',
  /** Addition: request -> every router answers `{id, routes}` (uri -> backends) (lets cc wait until a new instance is routed). */
  routerStatus: 'router.status',

  healthmanagerStart: 'healthmanager.start',
  healthmanagerHealth: 'healthmanager.health',
  healthmanagerStatus: 'healthmanager.status',
  /** HM -> cc, queue group `cc`. */
  hmRequests: 'cloudcontrollers.hm.requests',
  /** Addition: HM -> cc request: the expected state (v1's HM read the cc database directly). */
  ccBulkApps: 'cloudcontrollers.bulk.apps',
  /** Addition: cc -> anyone: an app was created, changed or deleted (drives editors without polling). */
  ccAppChanged: 'cloudcontrollers.app.changed',
} as const;

export const QueueGroups = {
  staging: 'staging',
  cloudControllers: 'cc',
} as const;
