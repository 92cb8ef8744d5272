// The extension suites' entry (the @vscode/test-electron `extensionTestsPath` shape).
import { runMochaIn } from '../runMocha';

export function run(): Promise<void> {
  return runMochaIn(__dirname);
}
