// `pocket`: runs the platform (`up`, or one component alone) and talks to it (push, apps, logs, ...).
// The commands live in cli/ by concept; this entry parses, and reports errors at the edge.
import { reportError } from './cli/errors';
import { buildProgram } from './cli/program';

export { buildProgram } from './cli/program';

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    const verbose = Boolean(process.env.POCKET_DEBUG) || argv.includes('--verbose');
    process.exitCode = reportError(e, verbose, (s) => { process.stderr.write(s); });
  }
}

/** A reader that stops early (`pocket files ... | head`) closes stdout: end quietly, as other tools do. */
function endQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

if (require.main === module) {
  endQuietlyOnClosedStdout();
  void main(process.argv);
}
