// `npm run package`: builds, then packs the extension into out/pocket-foundry.vsix (out/ is made
// here, so a fresh clone packages without any earlier step).
'use strict';
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'out');
const vsix = path.join(outDir, 'pocket-foundry.vsix');
const vsce = path.join(path.dirname(require.resolve('@vscode/vsce/package.json')), 'vsce');

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
}

try {
  run(process.execPath, [path.join(__dirname, 'build.js')]);
  fs.mkdirSync(outDir, { recursive: true });
  run(process.execPath, [vsce, 'package', '--skip-license', '--allow-missing-repository',
    '--no-rewrite-relative-links', '--out', vsix]);
} catch (err) {
  console.error(`package: ${err.message}`);
  process.exit(1);
}
