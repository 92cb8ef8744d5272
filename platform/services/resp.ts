// A minimal Redis protocol (RESP2) client for the node's admin commands (AUTH, PING, ACL):
// one connection, commands sent in order, one reply each. Not a general client.
import * as net from 'node:net';

export type RespValue = string | number | null | RespValue[] | RespError;

export class RespError extends Error {
  override name = 'RespError';
}

/** Parses one reply from `buf` at `at`; undefined when more bytes are needed. */
function parse(buf: Buffer, at: number): [RespValue, number] | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const head = buf.toString('utf8', at + 1, eol);
  const next = eol + 2;
  switch (buf[at]) {
    case 0x2b: return [head, next]; // +
    case 0x2d: return [new RespError(head), next]; // -
    case 0x3a: return [Number(head), next]; // :
    case 0x24: { // $
      const n = Number(head);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return undefined;
      return [buf.toString('utf8', next, next + n), next + n + 2];
    }
    case 0x2a: { // *
      const n = Number(head);
      if (n < 0) return [null, next];
      const out: RespValue[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, pos);
        if (!r) return undefined;
        out.push(r[0]);
        pos = r[1];
      }
      return [out, pos];
    }
    default: throw new RespError(`bad reply byte ${buf[at]}`);
  }
}

function encode(args: readonly string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

/** Sends each command in order over one connection; resolves with the replies (errors as RespError values). */
export function respCommands(host: string, port: number, commands: readonly (readonly string[])[], timeoutMs = 5000): Promise<RespValue[]> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const replies: RespValue[] = [];
    const fail = (e: Error): void => { sock.destroy(); reject(e); };
    sock.setTimeout(timeoutMs, () => fail(new Error(`redis at ${host}:${port} did not answer`)));
    sock.on('error', fail);
    sock.on('connect', () => { sock.write(commands.map(encode).join('')); });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      try {
        for (;;) {
          const r = parse(buf, 0);
          if (!r) break;
          replies.push(r[0]);
          buf = buf.subarray(r[1]);
        }
      } catch (e) { fail(e as Error); return; }
      if (replies.length >= commands.length) { sock.end(); resolve(replies); }
    });
    sock.on('close', () => { if (replies.length < commands.length) reject(new Error(`redis at ${host}:${port} closed the connection`)); });
  });
}
