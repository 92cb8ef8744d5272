// Test data builders: one default message per type, changed only where a test says so
// (`new StartBuilder(7).index(1).build()`), instead of object literals copied between tests.
import type { BulkApp, DeaStart, StagingRequest } from '../../../platform/bus';

const nowSec = (): number => Date.now() / 1000;

/** An app as the controller answers it on `cc.bulk.apps`: started, staged, one instance, changed an hour ago. */
export class AppBuilder {
  private a: BulkApp;
  constructor(droplet: number) {
    this.a = { droplet, name: `app${droplet}`, state: 'STARTED', package_state: 'STAGED', instances: 1, version: 'v1', memory: 64, last_updated: nowSec() - 3600 };
  }
  instances(n: number): this { this.a.instances = n; return this; }
  version(v: string): this { this.a.version = v; return this; }
  stopped(): this { this.a.state = 'STOPPED'; return this; }
  pending(): this { this.a.package_state = 'PENDING'; return this; }
  updatedNow(): this { this.a.last_updated = nowSec(); return this; }
  build(): BulkApp { return { ...this.a }; }
}

/** A `dea.<id>.start` for index 0 of a node app named `app<droplet>` at `app<droplet>.localhost`. */
export class StartBuilder {
  private s: DeaStart;
  constructor(droplet: number) {
    this.s = {
      droplet, name: `app${droplet}`, uris: [`app${droplet}.localhost`], runtime: 'node', framework: 'node', sha1: '',
      executableFile: '', executableUri: '', version: 'v1',
      limits: { mem: 64, disk: 256, fds: 128 }, env: [], index: 0,
    };
  }
  /** The droplet to run: its SHA-1, where to download it, and a version named after it. */
  droplet(sha1: string, uri: string): this { this.s = { ...this.s, sha1, executableUri: uri, version: `${sha1.slice(0, 8)}-1` }; return this; }
  name(n: string): this { this.s.name = n; return this; }
  index(i: number): this { this.s.index = i; return this; }
  version(v: string): this { this.s.version = v; return this; }
  /** Any other fields as the test gives them. */
  with(over: Partial<DeaStart>): this { this.s = { ...this.s, ...over }; return this; }
  build(): DeaStart { return { ...this.s }; }
}

/** A `staging` request for app `<appId>` with the stager's default limits and nothing detected yet. */
export class StagingRequestBuilder {
  private r: StagingRequest;
  constructor(appId: number, key: string) {
    this.r = {
      app_id: appId,
      task_id: `task-${appId}-${key}`,
      name: key,
      properties: {
        framework: null, runtime: null, command: null,
        resources: { memory: 64, disk: 2048, fds: 256 },
        environment: [], meta: {},
      },
      download_uri: '', upload_uri: '',
    };
  }
  name(n: string): this { this.r.name = n; return this; }
  framework(f: string | null): this { this.r.properties = { ...this.r.properties, framework: f }; return this; }
  runtime(r: string | null): this { this.r.properties = { ...this.r.properties, runtime: r }; return this; }
  command(c: string | null): this { this.r.properties = { ...this.r.properties, command: c }; return this; }
  uris(download: string, upload: string): this { this.r.download_uri = download; this.r.upload_uri = upload; return this; }
  timeout(sec: number): this { this.r.timeout = sec; return this; }
  build(): StagingRequest { return { ...this.r, properties: { ...this.r.properties } }; }
}
