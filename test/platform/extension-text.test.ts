// The extension's handling of what apps control: file names in a listing and bytes in the log
// terminal. Plain Node: these modules import no vscode.
import { strict as assert } from 'node:assert';
import { formatListing } from '../../platform/dea';
import { parseListing } from '../../extension/fileListing';
import { TerminalText } from '../../extension/terminalText';

describe('extension: app-controlled text', () => {
  it('a name with a newline is one entry in the listing the DEA writes, read back with its real name', () => {
    const names = ['evil\nfake.txt                             12B', 'back\\slash\\n', 'bell\u0007\u009b', 'plain name.txt', 'a  b  c'];
    const listing = formatListing([...names.map((name) => ({ name, dir: false, size: 5 })), { name: 'dir\nx', dir: true, size: 0 }]);
    const entries = parseListing(listing);
    assert.deepEqual(entries.map((e) => [e.name, e.dir, e.size]).sort(), [
      ...names.map((n) => [n, false, '5B']), ['dir\nx', true, undefined],
    ].sort());
    assert.ok(entries.every((e) => [...e.shown].every((c) => c.charCodeAt(0) >= 0x20 && !(c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f))), 'what is shown has no control characters');
    assert.equal(entries.find((e) => e.name === 'plain name.txt')?.shown, 'plain name.txt');
  });

  it('the log terminal keeps text, tabs and colours, and drops cursor moves, clears, titles, clipboard writes and other controls', () => {
    const t = new TerminalText();
    const out = t.push([
      'plain\ttab\r\n',
      '\x1b[31mred\x1b[0m \x1b[1;38;5;208mbold orange\x1b[m\n',
      '\x1b[2J\x1b[H\x1b[10;10Hmoved\x1b[?1049h\n',
      '\x1b]0;fake title\x07\x1b]52;c;ZXZpbA==\x1b\\\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\n',
      'bell\x07 back\b del\x7f c1\u009b esc-c\x1bc lone\rcr\n',
    ].join(''));
    assert.equal(out, 'plain\ttab\r\n\x1b[31mred\x1b[0m \x1b[1;38;5;208mbold orange\x1b[m\r\nmoved\r\nlink\r\nbell back del c1 esc-c lonecr\r\n');
  });

  it('a sequence split across chunks is still recognised', () => {
    const t = new TerminalText();
    const parts = ['a\x1b', '[3', '1mred\x1b]0;ti', 'tle\x07b\x1b[2', 'Jc\n'];
    assert.equal(parts.map((p) => t.push(p)).join(''), 'a\x1b[31mredbc\r\n');
  });
});
