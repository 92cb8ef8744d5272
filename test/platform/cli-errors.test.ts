// Errors at the CLI's edge: user-facing text as it is, anything else one "internal error" line,
// the stack only under --verbose (or POCKET_DEBUG), and the exit code a supervisor can act on.
import { strict as assert } from 'node:assert';
import { CliFailure, reportError } from '../../platform/cli/errors';
import { ExitCodes } from '../../platform/cli/exit-codes';
import { CloudControllerError, NoTargetError } from '../../platform/client';
import { isUserFacing, UserFacingError } from '../../platform/log';
import { buildCli, type CliHarness } from './support/cli';

function report(e: unknown, verbose = false): { text: string; code: number } {
  let text = '';
  const code = reportError(e, verbose, (s) => { text += s; });
  return { text, code };
}

describe('cli: errors at the edge', function () {
  this.timeout(60_000);

  it('prints a user-facing error as it is, with exit code 1', () => {
    assert.deepEqual(report(new UserFacingError('Say what to change')), { text: 'error: Say what to change\n', code: ExitCodes.failure });
    assert.equal(report(new NoTargetError('/d')).text.split('\n').length, 2, 'one line');
    assert.equal(report(new CloudControllerError(301, 404, 'App x not found')).text, 'error: App x not found\n');
  });

  it('prints anything else as one internal-error line, the stack only when verbose', () => {
    const plain = report(new TypeError('cannot read x of undefined'));
    assert.equal(plain.text, 'error: internal error: cannot read x of undefined (run again with --verbose for the details)\n');
    assert.equal(plain.code, ExitCodes.failure);
    const verbose = report(new TypeError('boom'), true);
    assert.match(verbose.text, /^error: internal error: boom\nTypeError: boom\n\s+at /);
    assert.equal(report('a string').text, 'error: internal error: a string (run again with --verbose for the details)\n');
  });

  it('ends with the exit code a CliFailure carries (a missing nats-server)', () => {
    const r = report(new CliFailure('nats-server was not found. Install it', ExitCodes.natsServerNotFound));
    assert.deepEqual(r, { text: 'error: nats-server was not found. Install it\n', code: ExitCodes.natsServerNotFound });
  });

  it('knows the client\'s errors by name, as the extension meets them from another bundle', () => {
    const other = new Error('Cannot reach the cloud controller');
    other.name = 'CloudControllerUnreachableError';
    assert.equal(isUserFacing(other), true);
    assert.equal(isUserFacing(new Error('x')), false);
    assert.equal(isUserFacing(undefined), false);
  });

  describe('the binary', () => {
    let h: CliHarness;
    before(async () => { h = await buildCli(); });
    after(() => h?.cleanup());

    it('--verbose adds the stack under the same first line', async () => {
      const [plain, verbose] = await Promise.all([
        h.run(['apps', '--api', 'http://127.0.0.1:9', '--token', 't']),
        h.run(['apps', '--api', 'http://127.0.0.1:9', '--token', 't', '--verbose']),
      ]);
      assert.equal(plain.code, 1);
      assert.equal(verbose.code, 1);
      const first = plain.stderr.split('\n')[0] ?? '';
      assert.match(first, /^error: Cannot reach the cloud controller/);
      assert.equal(verbose.stderr.split('\n')[0], first);
      assert.match(verbose.stderr, /\n\s+at /);
    });
  });
});
