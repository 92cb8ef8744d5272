// Lint for the whole repository. The rule that matters most: the platform (and the webview scripts)
// never import 'vscode' or reach into extension/; DESIGN.md's dependency rule is enforced here.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const vscodeImport = {
  name: 'vscode',
  message: "Only extension/ may import 'vscode'; the platform and webview scripts must run without VS Code.",
};

const extensionImports = {
  group: ['**/extension', '**/extension/**', '../extension*', './extension*'],
  message: 'platform/ never imports extension/ (dependency rule: extension -> platform, never back).',
};

// require('vscode') and import('vscode') slip past no-restricted-imports; catch them too.
const vscodeSyntax = [
  { selector: "ImportExpression[source.value='vscode']", message: vscodeImport.message },
  { selector: "CallExpression[callee.name='require'][arguments.0.value='vscode']", message: vscodeImport.message },
];

const nodeGlobals = Object.fromEntries([
  'require', 'module', 'exports', '__dirname', '__filename', 'process', 'console', 'Buffer', 'URL',
  'URLSearchParams', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate',
  'clearImmediate', 'queueMicrotask', 'structuredClone', 'fetch', 'AbortController', 'AbortSignal',
  'TextEncoder', 'TextDecoder', 'performance', 'globalThis',
].map((g) => [g, 'readonly']));

const browserGlobals = Object.fromEntries([
  'window', 'document', 'navigator', 'console', 'setTimeout', 'clearTimeout', 'setInterval',
  'clearInterval', 'requestAnimationFrame', 'cancelAnimationFrame', 'acquireVsCodeApi', 'HTMLElement',
  'HTMLButtonElement', 'HTMLTableElement', 'HTMLTableRowElement', 'HTMLTableSectionElement', 'Event',
  'MessageEvent', 'CustomEvent', 'Intl', 'URL', 'performance', 'globalThis',
].map((g) => [g, 'readonly']));

export default tseslint.config(
  {
    ignores: ['dist/', 'media/dist/', 'out/', 'node_modules/', 'test/fixtures/', '.vscode-test/', 'test-results/', 'tmp/', '**/*.d.ts'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // `_`-prefixed names are deliberately unused (ignored callback arguments, destructured rests).
      '@typescript-eslint/no-unused-vars': ['error', {
        argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true,
      }],
    },
  },
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    languageOptions: { globals: nodeGlobals },
    rules: {
      // Plain-JS build scripts are CommonJS on purpose (run directly by node, no transpile step).
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    files: ['media/**/*.js', 'media/**/*.mjs'],
    languageOptions: { globals: browserGlobals, sourceType: 'module' },
  },
  {
    files: ['platform/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [vscodeImport], patterns: [extensionImports] }],
      'no-restricted-syntax': ['error', ...vscodeSyntax],
    },
  },
  {
    // Webview scripts may share extension/panelProtocol.ts (typed messages, no vscode import), never vscode.
    files: ['media/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [vscodeImport] }],
      'no-restricted-syntax': ['error', ...vscodeSyntax],
    },
  },
);
