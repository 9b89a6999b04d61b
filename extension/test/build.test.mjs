import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { crc32, makeZip } from '../scripts/zip.mjs';
import { firefoxManifest } from '../scripts/manifest.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Read a zip back (central directory -> local entries), checking each CRC. */
function readZip(buf) {
  const end = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, 'end of central directory');
  const count = buf.readUInt16LE(end + 10);
  let p = buf.readUInt32LE(end + 16);
  const files = new Map();
  for (let i = 0; i < count; i++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const csize = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const offset = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    const lname = buf.readUInt16LE(offset + 26);
    const lextra = buf.readUInt16LE(offset + 28);
    const raw = buf.subarray(offset + 30 + lname + lextra, offset + 30 + lname + lextra + csize);
    const data = method === 8 ? inflateRawSync(raw) : Buffer.from(raw);
    assert.equal(crc32(data), crc, `crc of ${name}`);
    files.set(name, data);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return files;
}

test('zip round trip, deterministic', () => {
  const entries = [{ name: 'b.txt', data: Buffer.from('hello '.repeat(100)) }, { name: 'a/x.bin', data: Buffer.from([1, 2, 3]) }];
  const zip = makeZip(entries);
  assert.deepEqual(makeZip([...entries].reverse()), zip);
  const files = readZip(zip);
  assert.deepEqual([...files.keys()], ['a/x.bin', 'b.txt']);
  assert.equal(files.get('b.txt').toString(), 'hello '.repeat(100));
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
});

test('the Firefox manifest: background scripts, gecko id, version 128+', () => {
  const chromium = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));
  const ff = firefoxManifest(chromium);
  assert.deepEqual(ff.background, { scripts: ['background.js'], type: 'module' });
  assert.match(ff.browser_specific_settings.gecko.id, /^[^@\s]+@[^@\s]+$/);
  assert.equal(ff.browser_specific_settings.gecko.strict_min_version, '128.0');
  assert.ok(ff.content_scripts.some((c) => c.world === 'MAIN'));
  assert.ok(ff.content_scripts.every((c) => !('match_origin_as_fallback' in c)));
  assert.equal(chromium.background.service_worker, 'background.js', 'the source manifest is untouched');
});

test('npm run build writes both packages with every file the manifests name', () => {
  const out = mkdtempSync(join(tmpdir(), 'facecloak-build-'));
  try {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), out], { stdio: 'pipe' });
    for (const browser of ['chromium', 'firefox']) {
      const files = readZip(readFileSync(join(out, `facecloak-${browser}.zip`)));
      const manifest = JSON.parse(files.get('manifest.json').toString());
      assert.equal(manifest.manifest_version, 3);
      const named = [manifest.action.default_popup, manifest.options_ui.page, ...Object.values(manifest.icons)];
      named.push(...(manifest.background.scripts || [manifest.background.service_worker]));
      for (const cs of manifest.content_scripts) named.push(...cs.js);
      for (const war of manifest.web_accessible_resources) named.push(...war.resources);
      for (const f of named) assert.ok(files.has(f), `${browser}: ${f}`);
      // every module import inside the package resolves inside the package
      for (const [name, data] of files) {
        if (!name.endsWith('.js')) continue;
        for (const m of data.toString().matchAll(/^\s*(?:import|export)\s[^'"]*from\s+'(\.[^']+)'/gm)) {
          const target = new URL(m[1], `file:///${name}`).pathname.slice(1);
          assert.ok(files.has(target), `${browser}: ${name} imports ${m[1]}`);
        }
      }
      assert.ok(![...files.keys()].some((f) => f.startsWith('test/') || f.startsWith('scripts/') || f.includes('node_modules')));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('every module a content script imports is web-accessible', () => {
  const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));
  const war = new Set(manifest.web_accessible_resources.flatMap((w) => w.resources));
  const seen = new Set();
  const queue = ['content/agent.js'];
  while (queue.length) {
    const file = queue.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    assert.ok(war.has(file), `${file} must be in web_accessible_resources`);
    const text = readFileSync(join(root, file), 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*from\s+'(\.[^']+)'/gm)) {
      queue.push(new URL(m[1], `file:///${file}`).pathname.slice(1));
    }
  }
});
