// Bundles the extension test suites (TypeScript) into out/test/extension/ as CommonJS files the
// extension host can load: `vscode` comes from the host, mocha from node_modules.
'use strict';
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const outRoot = path.join(root, 'out', 'test', 'extension');

const suites = ['suite', 'vsix'];

async function main() {
  fs.rmSync(outRoot, { recursive: true, force: true });
  for (const s of suites) {
    const dir = path.join(__dirname, s);
    const entries = fs.readdirSync(dir).filter((f) => f === 'index.ts' || f.endsWith('.test.ts')).map((f) => path.join(dir, f));
    await esbuild.build({
      entryPoints: entries,
      outdir: path.join(outRoot, s),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      sourcemap: 'inline',
      logLevel: 'warning',
      absWorkingDir: root,
      external: ['vscode', 'mocha'],
    });
  }
  // The probe is an empty development extension: with it, a suite can run against the installed .vsix.
  fs.cpSync(path.join(__dirname, 'vsix', 'probe'), path.join(outRoot, 'vsix-probe'), { recursive: true });
}
main().catch((e) => { console.error(e.message); process.exit(1); });
