// Every NATS subject the platform uses, each paired with its payload schema (and reply schema for
// request/reply). v1 names are kept; additions are marked.
import * as m from './messages';
import { requestSubject, subject, type RequestSubject, type Subject } from './descriptor';

export const Subjects = {
  /** cc -> stager, request/reply, queue group `staging`. */
  staging: requestSubject('staging', m.stagingRequest, m.stagingReply),
  /** Addition: cc -> stagers, cancel a running staging task (request/reply, queue group `staging.stop` not used: every stager checks). */
  stagingStop: requestSubject('staging.stop', m.stagingStop, m.stagingStopReply),
  /** Addition: stager -> anyone, one message per staging log line as it is written. */
  stagingLog: (droplet: number): Subject<typeof m.stagingLogLine> => subject(`staging.log.${droplet}`, m.stagingLogLine),
  stagingLogAll: subject('staging.log.*', m.stagingLogLine),

  deaAdvertise: subject('dea.advertise', m.deaAdvertise),
  /** Any payload: the message itself is the signal. */
  deaLocate: subject('dea.locate', m.signal),
  deaDiscover: requestSubject('dea.discover', m.deaDiscover, m.deaDiscoverReply),
  deaStart: (deaId: string): Subject<typeof m.deaStart> => subject(`dea.${deaId}.start`, m.deaStart),
  /** Every DEA's start subject (for watchers). */
  deaStartAll: subject('dea.*.start', m.deaStart),
  deaStop: subject('dea.stop', m.deaStop),
  deaUpdate: subject('dea.update', m.deaUpdate),
  deaFindDroplet: requestSubject('dea.find.droplet', m.deaFindDroplet, m.deaFindDropletReply),
  deaHeartbeat: subject('dea.heartbeat', m.deaHeartbeat),
  dropletExited: subject('droplet.exited', m.dropletExited),
  dropletUpdated: subject('droplet.updated', m.dropletUpdated),

  routerRegister: subject('router.register', m.routerRegister),
  routerUnregister: subject('router.unregister', m.routerRegister),
  routerStart: subject('router.start', m.routerStart),
  /** Addition: request -> every router answers `{id, routes}` (uri -> backends) (lets cc wait until a new instance is routed). */
  routerStatus: requestSubject('router.status', m.routerStatus, m.routerStatusReply),

  /** Any payload: the message itself is the signal. */
  healthmanagerStart: subject('healthmanager.start', m.signal),
  healthmanagerHealth: requestSubject('healthmanager.health', m.healthmanagerHealth, m.healthmanagerHealthReply),
  healthmanagerStatus: requestSubject('healthmanager.status', m.healthmanagerStatus, m.healthmanagerStatusReply),
  /** HM -> cc, queue group `cc`. */
  hmRequests: subject('cloudcontrollers.hm.requests', m.hmRequest),
  /** Addition: HM -> cc request: the expected state (v1's HM read the cc database directly). */
  ccBulkApps: requestSubject('cloudcontrollers.bulk.apps', m.ccBulkApps, m.ccBulkAppsReply),
  /** Addition: cc -> anyone: an app was created, changed or deleted (drives editors without polling). */
  ccAppChanged: subject('cloudcontrollers.app.changed', m.ccAppChanged),
} as const satisfies Record<string, Subject | RequestSubject | ((arg: never) => Subject)>;

export const QueueGroups = {
  staging: 'staging',
  cloudControllers: 'cc',
} as const;
