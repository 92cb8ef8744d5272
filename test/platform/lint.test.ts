import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ESLint } from 'eslint';

// The dependency rule (DESIGN.md) is enforced by eslint; these tests prove the rule really fires.
const root = path.resolve(__dirname, '..', '..');
const restricted = '@typescript-eslint/no-restricted-imports';

function ruleIds(results: ESLint.LintResult[]): string[] {
  return results.flatMap((r) => r.messages.map((m) => m.ruleId ?? `fatal: ${m.message}`));
}

describe('lint: dependency rule', function () {
  this.timeout(60_000);
  let eslint: ESLint;
  before(() => { eslint = new ESLint({ cwd: root }); });

  it("flags a real file in platform/ that imports 'vscode'", async () => {
    const file = path.join(root, 'platform', `lint-probe-${process.pid}-${randomBytes(4).toString('hex')}.ts`);
    fs.writeFileSync(file, "import type * as vscode from 'vscode';\nexport type Probe = typeof vscode.version;\n");
    try {
      const results = await eslint.lintFiles([file]);
      assert.equal(results.length, 1);
      assert.ok(ruleIds(results).includes(restricted), `expected ${restricted}, got ${JSON.stringify(ruleIds(results))}`);
    } finally {
      fs.rmSync(file, { force: true });
    }
    assert.equal(fs.existsSync(file), false);
  });

  const forbidden: Array<[string, string, string]> = [
    ['platform/controller/x.ts', "import * as vscode from 'vscode';\nexport const v = vscode.version;\n", restricted],
    ['platform/client/x.ts', "import { activate } from '../../extension/main';\nexport const a = activate;\n", restricted],
    ['platform/x.ts', "export { activate } from '../extension/main';\n", restricted],
    ['platform/dea/x.ts', "export const v = import('vscode');\n", 'no-restricted-syntax'],
    ['media/panel.ts', "import * as vscode from 'vscode';\nexport const v = vscode.version;\n", restricted],
  ];
  for (const [filePath, code, rule] of forbidden) {
    it(`flags ${rule} in ${filePath}: ${code.split('\n')[0]}`, async () => {
      const ids = ruleIds(await eslint.lintText(code, { filePath: path.join(root, filePath) }));
      assert.ok(ids.includes(rule), `expected ${rule}, got ${JSON.stringify(ids)}`);
    });
  }

  it("allows 'vscode' in extension/ and bus imports in platform/", async () => {
    const ext = ruleIds(await eslint.lintText("import * as vscode from 'vscode';\nexport const v = vscode.version;\n",
      { filePath: path.join(root, 'extension', 'x.ts') }));
    assert.deepEqual(ext, []);
    const plat = ruleIds(await eslint.lintText("import { Subjects } from '../bus';\nexport const s = Subjects;\n",
      { filePath: path.join(root, 'platform', 'controller', 'x.ts') }));
    assert.deepEqual(plat, []);
  });
});
