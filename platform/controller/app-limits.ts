// The account's limits on desired state: memory of STARTED apps, number of apps, uris per app, and
// who owns a uri.
import { describeError } from '../log';
import { CcError, ErrorCodes } from './errors';
import type { Store } from './store';

export interface Limits {
  memoryLimitMb: number;
  appLimit: number;
  uriLimit: number;
}

export class AppLimits {
  constructor(private readonly store: Store, readonly limits: Limits) {}

  checkAppCount(): void {
    if (this.store.countApps() >= this.limits.appLimit) throw new CcError(ErrorCodes.tooManyApps, `too many apps: the limit is ${this.limits.appLimit}`);
  }

  checkMemory(memory: number, instances: number, state: string, appId: number | undefined): void {
    const limit = this.limits.memoryLimitMb;
    const need = memory * instances;
    if (need > limit) {
      throw new CcError(ErrorCodes.notEnoughMemory, `not enough memory: ${instances} x ${memory} MB = ${need} MB, the account limit is ${limit} MB`);
    }
    if (state === 'STARTED') {
      const others = this.store.startedMemory(appId);
      if (others + need > limit) {
        throw new CcError(ErrorCodes.notEnoughMemory, `not enough memory: started apps use ${others} MB, this app needs ${need} MB, the account limit is ${limit} MB`);
      }
    }
  }

  checkUris(uris: readonly string[], appId: number | undefined): void {
    if (uris.length > this.limits.uriLimit) throw new CcError(ErrorCodes.tooManyUris, `too many uris: ${uris.length}, the limit is ${this.limits.uriLimit} per app`);
    for (const u of uris) {
      const owner = this.store.uriOwner(u);
      if (owner !== undefined && owner !== appId) throw new CcError(ErrorCodes.uriTaken, `the uri ${u} is taken by another app`);
    }
  }
}

/** A UNIQUE constraint the store refused, as the error a client would have got from the checks. */
export function translateConstraint(e: unknown): unknown {
  const c = /UNIQUE constraint failed: (\S+)/.exec(describeError(e))?.[1] ?? null;
  if (c === 'uris.uri') return new CcError(ErrorCodes.uriTaken, 'a uri is taken by another app');
  if (c === 'apps.name') return new CcError(ErrorCodes.appInvalid, 'an app with that name already exists');
  return e;
}
