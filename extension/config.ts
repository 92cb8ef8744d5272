// The `pocketFoundry.*` settings, read in one place.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';

export interface PocketConfig {
  /** The Node.js that runs the platform (`node` on PATH by default). */
  nodePath: string;
  /** Where the platform keeps its state and endpoint.json. */
  dataDir: string;
  keepPlatformRunning: boolean;
  /** Memory (MB) for a pushed app whose manifest names none; undefined lets the platform decide. */
  defaultMemory: number | undefined;
  /** Router port for a platform this extension starts; 0 picks a free port. */
  routerPort: number;
}

export const configSection = 'pocketFoundry';

export function readConfig(globalStorage: string): PocketConfig {
  const c = vscode.workspace.getConfiguration(configSection);
  const dataDir = c.get<string>('dataDir')?.trim();
  const memory = c.get<number | null>('defaultMemory');
  return {
    nodePath: c.get<string>('nodePath')?.trim() || 'node',
    dataDir: dataDir ? expandHome(dataDir) : globalStorage,
    keepPlatformRunning: c.get<boolean>('keepPlatformRunning') ?? false,
    defaultMemory: typeof memory === 'number' && memory > 0 ? memory : undefined,
    routerPort: c.get<number>('routerPort') ?? 0,
  };
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(os.homedir(), p.slice(1)) : p;
}
