import * as fs from 'node:fs';
import JSZip from 'jszip';
import { startTestController, httpRequest, multipartBody } from './test/platform/support/controller';
const dir = '/tmp/ccexp/files';
(async () => {
  const t = await startTestController();
  const u = t.controller.url;
  await httpRequest(`${u}/apps`, { method: 'POST', token: t.token, body: JSON.stringify({ name: 'b' }), headers: { 'content-type': 'application/json' } });
  const names = fs.readdirSync(dir).sort();
  const z = new JSZip(); for (const f of names) z.file(f, fs.readFileSync(`${dir}/${f}`), { unixPermissions: 0o100644, createFolders: false });
  const zip = await z.generateAsync({ type: 'nodebuffer', compression: 'STORE', platform: 'UNIX' });
  const mp = multipartBody([{ name: 'resources', value: '[]' }, { name: 'application', value: zip, filename: 'a.zip' }]);
  const t0 = Date.now();
  const r = await httpRequest(`${u}/apps/b/application`, { method: 'PUT', token: t.token, body: mp.body, headers: { 'content-type': mp.contentType } });
  console.log('total', Date.now() - t0, r.status);
  await t.stop();
})();
