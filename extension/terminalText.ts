// What an app writes to its logs, made safe for a terminal: text, newlines, tabs and colours (SGR)
// pass; every other control character and escape sequence (cursor moves, screen clears, window
// titles, OSC 52 clipboard writes, hyperlinks, device queries) is removed. No vscode here.

/** ESC `[` parameters `m`: colours and text styles only. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const sgr = /^\x1b\[[0-9;:]*m/;
/** A sequence still arriving at the end of a chunk: ESC, CSI or a string sequence without its end. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const incomplete = /\x1b(?:\[[0-?]*[ -/]*|[\]PX^_][^\x07\x1b]*(?:\x1b)?)?$/;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const sequence = /^\x1b(?:\[[0-?]*[ -/]*[@-~]|[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])/;

/** Keeps state across chunks, so a sequence split in two is still recognised. */
export class TerminalText {
  private carry = '';

  /** Sanitises one chunk; line ends become `\r\n` (a pseudoterminal needs both). */
  push(chunk: string): string {
    let s = this.carry + chunk;
    this.carry = '';
    const tail = incomplete.exec(s);
    if (tail && tail[0].length < 4096) { this.carry = tail[0]; s = s.slice(0, tail.index); }
    let out = '';
    for (let i = 0; i < s.length;) {
      const c = s.charCodeAt(i);
      if (c === 0x1b) {
        const rest = s.slice(i, i + 4096);
        const keep = sgr.exec(rest);
        if (keep) { out += keep[0]; i += keep[0].length; continue; }
        const drop = sequence.exec(rest);
        i += drop ? drop[0].length : 1;
        continue;
      }
      if (c === 0x0a) out += '\r\n';
      else if (c === 0x09 || (c >= 0x20 && c !== 0x7f && !(c >= 0x80 && c <= 0x9f))) out += s[i];
      i++;
    }
    return out;
  }
}
