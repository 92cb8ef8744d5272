// Entry point: wires the context object, its commands and views. No IO and no platform start here:
// the platform starts on first need (a view opened, a command run).
import { performance } from 'node:perf_hooks';
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { PocketFoundry } from './context';
import { describe } from './log';
import { createTestApi, type PocketFoundryTestApi } from './testApi';

let instance: PocketFoundry | undefined;

export function activate(ext: vscode.ExtensionContext): PocketFoundryTestApi {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  try {
    const ctx = new PocketFoundry(ext);
    instance = ctx;
    const t1 = performance.now();
    ext.subscriptions.push(...registerCommands(ctx));
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    ctx.log.info(`Activated in ${ms.toFixed(1)} ms (cpu ${cpuMs.toFixed(1)} ms; context ${(t1 - t0).toFixed(1)} ms, commands ${(performance.now() - t1).toFixed(1)} ms); the platform starts when first needed.`);
    return createTestApi(ctx, { wallMs: ms, cpuMs });
  } catch (e) {
    void vscode.window.showErrorMessage(`Pocket Foundry failed to activate: ${describe(e)}`);
    throw e;
  }
}

export async function deactivate(): Promise<void> {
  const ctx = instance;
  instance = undefined;
  await ctx?.dispose();
}
