// npm run build: check the manifest names only files that exist, then write
// dist/facecloak-chromium.zip and dist/facecloak-firefox.zip. No network,
// no dependencies. `node scripts/build.mjs OUT_DIR` writes elsewhere.

import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firefoxManifest, packagedFiles } from './manifest.mjs';
import { makeZip } from './zip.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] || join(root, 'dist'));

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(relative(root, path).split(sep).join('/'));
  }
  return out;
}

/** Every file the manifest refers to, so a typo fails the build rather than the browser. */
function referenced(manifest) {
  const refs = [manifest.background.service_worker, manifest.action.default_popup, manifest.options_ui.page];
  refs.push(...Object.values(manifest.icons || {}));
  for (const cs of manifest.content_scripts || []) refs.push(...(cs.js || []), ...(cs.css || []));
  for (const war of manifest.web_accessible_resources || []) refs.push(...war.resources);
  return refs;
}

const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8'));
const files = packagedFiles(walk(root));
const missing = referenced(manifest).filter((f) => !files.includes(f));
if (missing.length) {
  console.error(`manifest.json names files that are not packaged: ${missing.join(', ')}`);
  process.exit(1);
}
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
if (manifest.version !== version) {
  console.error(`manifest.json version ${manifest.version} differs from package.json ${version}`);
  process.exit(1);
}

const entries = files.filter((f) => f !== 'manifest.json').map((name) => ({ name, data: readFileSync(join(root, name)) }));
const json = (m) => Buffer.from(JSON.stringify(m, null, 2) + '\n');
mkdirSync(outDir, { recursive: true });
for (const [browser, m] of [['chromium', manifest], ['firefox', firefoxManifest(manifest)]]) {
  const path = join(outDir, `facecloak-${browser}.zip`);
  writeFileSync(path, makeZip([...entries, { name: 'manifest.json', data: json(m) }]));
  console.log(`wrote ${relative(process.cwd(), path) || path} (${entries.length + 1} files)`);
}
