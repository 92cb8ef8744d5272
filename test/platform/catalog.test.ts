// The shared runtime and framework catalog: names, aliases and detection order as in PROTOCOL.md §4.
import { strict as assert } from 'node:assert';
import { FrameworkNames, frameworkNamed, frameworks, runtimes } from '../../platform/bus';

describe('runtime and framework catalog', () => {
  it('lists the frameworks in v1 detection order with their default memory', () => {
    assert.deepEqual(frameworks.map((f) => [f.name, f.memory]), [
      ['rails3', 256], ['rack', 128], ['sinatra', 128], ['django', 128], ['wsgi', 128], ['node', 64], ['static', 64], ['standalone', 128],
    ]);
    assert.deepEqual(frameworks.map((f) => f.name), [...FrameworkNames]);
  });

  it('resolves framework aliases case-insensitively, and nothing else', () => {
    const named = (n: string): string | undefined => frameworkNamed(n)?.name;
    for (const [alias, name] of [['rails', 'rails3'], ['rails2', 'rails3'], ['Flask', 'wsgi'], ['python', 'wsgi'], ['nodejs', 'node'], ['node.js', 'node'], ['express', 'node'], ['html', 'static'], [' rack ', 'rack']]) {
      assert.equal(named(alias), name, alias);
    }
    for (const n of ['', 'php', 'spring', 'rails3x']) assert.equal(named(n), undefined, n);
  });

  it('advertises each runtime under its v1 names', () => {
    assert.deepEqual(Object.fromEntries(runtimes.map((r) => [r.name, r.advertised])), {
      node: ['node', 'node06', 'node08', 'node10'], ruby: ['ruby', 'ruby18', 'ruby19'], python3: ['python', 'python2', 'python3'],
      java: ['java', 'java7'], php: ['php'], erlang: ['erlang', 'erlangR14B02'], go: ['go'],
    });
  });
});
