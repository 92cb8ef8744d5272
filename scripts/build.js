// Bundles what ships: the `pocket` CLI (platform) and the extension. Type-checking is `tsc --noEmit`.
'use strict';
const esbuild = require('esbuild');
const path = require('path');
const fs = require('fs');

const root = path.resolve(__dirname, '..');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  absWorkingDir: root,
};

const builds = [
  // The platform runs on the system Node with the project's node_modules (better-sqlite3 is native).
  { ...common, entryPoints: ['platform/cli.ts'], outfile: 'dist/pocket.js', packages: 'external',
    banner: { js: '#!/usr/bin/env node' } },
];
if (fs.existsSync(path.join(root, 'extension/main.ts'))) {
  // The extension host runs another Node: bundle everything pure-JS, never the native store.
  builds.push({ ...common, entryPoints: ['extension/main.ts'], outfile: 'dist/extension.js',
    external: ['vscode'] });
}
if (fs.existsSync(path.join(root, 'extension/clientLib.ts'))) {
  // platform/client as its own bundle: the extension loads it on first need, not at activation.
  builds.push({ ...common, entryPoints: ['platform/client/index.ts'], outfile: 'dist/client.js' });
}
if (fs.existsSync(path.join(root, 'media/instances.ts'))) {
  // The instance panel's webview script: a browser bundle the panel loads from media/ (its CSP root).
  builds.push({ ...common, entryPoints: ['media/instances.ts'], outfile: 'media/dist/instances.js',
    platform: 'browser', format: 'iife', target: 'es2022' });
}

async function main() {
  for (const b of builds) {
    if (watch) { await (await esbuild.context(b)).watch(); } else { await esbuild.build(b); }
  }
  const cli = path.join(root, 'dist/pocket.js');
  if (fs.existsSync(cli)) fs.chmodSync(cli, 0o755);
}
main().catch((err) => { console.error(err.message); process.exit(1); });
