// Telling the world an app changed: `droplet.updated` (the health manager re-reads it),
// `cloudcontrollers.app.changed` and the REST event stream.
import { Subjects, type Bus, type CcAppChanged } from '../bus';
import type { EventHub } from './event-stream';

export type AppEvent = CcAppChanged['event'];

export class AppNotifier {
  constructor(private readonly bus: Bus, private readonly events: EventHub) {}

  /** The desired state changed. */
  changed(app: { id: number; name: string }, event: AppEvent): void {
    this.bus.publish(Subjects.dropletUpdated, { droplet: app.id });
    this.announce(app, event);
  }

  /** Only watchers need to know (the health manager's view did not change). */
  announce(app: { id: number; name: string }, event: AppEvent): void {
    const msg: CcAppChanged = { droplet: app.id, name: app.name, event };
    this.bus.publish(Subjects.ccAppChanged, msg);
    this.events.emit({ type: 'app', name: app.name, droplet: app.id, event });
  }

  /** Instances appeared, changed state or went. */
  instancesChanged(app: { id: number; name: string }): void {
    this.events.emit({ type: 'instances', name: app.name, droplet: app.id });
  }
}
