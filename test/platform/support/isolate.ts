// Loaded by mocha before every platform suite: the client's push cache (and anything else under
// XDG_CACHE_HOME) goes to a temp dir for the run, never into the user's own cache.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const cacheHome = fs.mkdtempSync(path.join(os.tmpdir(), 'pocket-test-cache-'));
process.env.XDG_CACHE_HOME = cacheHome;
process.on('exit', () => { fs.rmSync(cacheHome, { recursive: true, force: true }); });
// Every bus in the suites validates what it sends against the subject's schema (platform/bus/bus.ts).
process.env.POCKET_BUS_CHECK = '1';
