// Every message the DEA publishes, in one place: advertise, heartbeat, routes and exits.
import { Subjects, type Bus, type DeaAdvertise, type DeaHeartbeat } from '../bus';
import type { Instance } from './instance';
import type { StopReason } from './lifecycle';

export class Announcer {
  constructor(private readonly bus: Bus, private readonly deaId: string, private readonly host: string, private readonly heartbeatMs: number) {}

  advertise(msg: DeaAdvertise): void {
    this.bus.publish(Subjects.deaAdvertise, msg);
  }

  /** One `dea.heartbeat` for every instance not yet deleted. */
  heartbeat(instances: Iterable<Instance>): void {
    const msg: DeaHeartbeat = {
      dea: this.deaId,
      droplets: [...instances].filter((i) => i.state !== 'DELETED').map((i) => i.heartbeat()),
      interval_ms: this.heartbeatMs,
    };
    this.bus.publish(Subjects.deaHeartbeat, msg);
  }

  /** `router.register` for `uris` (default: all of the instance's), when it has a port and uris. */
  registerRoutes(inst: Instance, uris?: readonly string[]): void {
    const r = inst.route(this.deaId, this.host, uris);
    if (r) this.bus.publish(Subjects.routerRegister, r);
  }

  unregisterRoutes(inst: Instance, uris?: readonly string[]): void {
    const r = inst.route(this.deaId, this.host, uris);
    if (r) this.bus.publish(Subjects.routerUnregister, r);
  }

  exited(inst: Instance, reason: StopReason | 'CRASHED'): void {
    this.bus.publish(Subjects.dropletExited, inst.exitedMessage(reason));
  }
}
