// Entry of the suite that runs against the installed .vsix (development extension: the empty probe).
import { runMochaIn } from '../runMocha';

export function run(): Promise<void> {
  return runMochaIn(__dirname);
}
