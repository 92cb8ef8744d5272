// A connection to one running platform: the REST client and the controller's event stream.
import * as vscode from 'vscode';
import type { CloudControllerClient, EventSubscription, PlatformEvent } from '../platform/client';
import { clientLib } from './clientLib';
import type { RunningEndpoint } from './supervisor';

export interface ConnectionHandlers {
  onEvent(e: PlatformEvent): void;
  /** The stream (re)opened: state may have changed while it was away. */
  onOpen(): void;
  /** The stream dropped; it reconnects by itself. */
  onDrop(err: Error): void;
}

export class PlatformConnection implements vscode.Disposable {
  readonly client: CloudControllerClient;
  private readonly events: EventSubscription;

  constructor(readonly endpoint: RunningEndpoint, handlers: ConnectionHandlers) {
    this.client = new (clientLib().CloudControllerClient)({ api: endpoint.api, token: endpoint.token, ca: endpoint.ca });
    this.events = this.client.events({}, (e) => handlers.onEvent(e), {
      onOpen: () => handlers.onOpen(),
      onError: (err) => handlers.onDrop(err),
    });
  }

  /** Resolves once events flow (or after a short wait, so a missing stream never blocks a command). */
  ready(timeoutMs = 3000): Promise<void> {
    return Promise.race([this.events.ready.catch(() => undefined), new Promise<void>((r) => setTimeout(r, timeoutMs))]);
  }

  /** The router's base URL, e.g. `http://127.0.0.1:8080`. */
  get routerUrl(): string | undefined {
    return this.endpoint.router || undefined;
  }

  dispose(): void {
    this.events.close();
    this.client.close();
  }
}
