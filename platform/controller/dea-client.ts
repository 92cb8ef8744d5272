// The controller's one way to the DEAs: every DEA command it sends leaves from this file.
import {
  Subjects,
  type Bus, type DeaDiscover, type DeaDiscoverReply, type DeaFindDroplet, type DeaFindDropletReply, type DeaStart, type DeaStop, type DeaUpdate,
} from '../bus';

export interface DeaClient {
  /** `dea.discover`: the first DEA that answers it can take the instance; undefined when none does. */
  discover(req: DeaDiscover): Promise<DeaDiscoverReply | undefined>;
  /** `dea.discover`, every DEA that answers soon after the first (least loaded first); placement picks among them. */
  discoverAll?(req: DeaDiscover): Promise<DeaDiscoverReply[]>;
  /** `dea.<id>.start`. */
  start(deaId: string, start: DeaStart): void;
  /** `dea.stop`: every DEA stops what matches the filter. */
  stop(filter: DeaStop): void;
  /** `dea.update`: new uris for a droplet's instances. */
  update(msg: DeaUpdate): void;
  /** `dea.locate`: every DEA advertises itself again. */
  locate(): void;
  /** `dea.find.droplet`: the answers that match the filter (a DEA may answer more broadly). */
  find(filter: DeaFindDroplet, expected?: number): Promise<DeaFindDropletReply[]>;
}

export interface BusDeaClientTimings {
  discoverWaitMs: number;
  findWaitMs: number;
}

export class BusDeaClient implements DeaClient {
  constructor(private readonly bus: Bus, private readonly t: BusDeaClientTimings) {}

  async discover(req: DeaDiscover): Promise<DeaDiscoverReply | undefined> {
    const replies = await this.bus.requestMany(Subjects.deaDiscover, req, { maxWait: this.t.discoverWaitMs, maxMessages: 1 });
    return replies[0];
  }

  discoverAll(req: DeaDiscover): Promise<DeaDiscoverReply[]> {
    // DEAs delay their answer by load (at most 250 ms): a pause of 150 ms after the last answer ends the wait.
    return this.bus.requestMany(Subjects.deaDiscover, req, { maxWait: this.t.discoverWaitMs, stallMs: 150 });
  }

  start(deaId: string, start: DeaStart): void {
    this.bus.publish(Subjects.deaStart(deaId), start);
  }

  stop(filter: DeaStop): void {
    this.bus.publish(Subjects.deaStop, filter);
  }

  update(msg: DeaUpdate): void {
    this.bus.publish(Subjects.deaUpdate, msg);
  }

  locate(): void {
    this.bus.publish(Subjects.deaLocate, {});
  }

  async find(filter: DeaFindDroplet, expected?: number): Promise<DeaFindDropletReply[]> {
    const replies = await this.bus.requestMany(Subjects.deaFindDroplet, filter, {
      maxWait: this.t.findWaitMs, ...(expected ? { maxMessages: expected } : {}),
    });
    return replies.filter((r) => r.droplet === filter.droplet && (!filter.version || r.version === filter.version)
      && (!filter.states || filter.states.includes(r.state)) && (!filter.indices || filter.indices.includes(r.index)));
  }
}
