// The Firefox manifest, derived from the Chromium one (manifest.json):
// Firefox runs the background as module scripts rather than a service
// worker, needs a stable add-on id, and runs MAIN-world content scripts from
// version 128 on.

export const GECKO_ID = 'facecloak@facecloak.invalid';
export const FIREFOX_MIN = '128.0';

export function firefoxManifest(chromium) {
  const out = structuredClone(chromium);
  const worker = chromium.background && chromium.background.service_worker;
  if (!worker) throw new Error('manifest.json has no background.service_worker');
  out.background = { scripts: [worker], type: 'module' };
  delete out.minimum_chrome_version;
  out.browser_specific_settings = { gecko: { id: GECKO_ID, strict_min_version: FIREFOX_MIN } };
  for (const script of out.content_scripts || []) delete script.match_origin_as_fallback; // Chromium-only key
  return out;
}

/** The files of the extension (relative paths, sorted) that go into a package. */
export function packagedFiles(all) {
  const keep = (p) =>
    p === 'manifest.json' ||
    p === 'background.js' ||
    /^(src|content|pages)\/[^/]+\.(js|html|css)$/.test(p) ||
    /^icons\/[^/]+\.png$/.test(p);
  return all.filter(keep).sort();
}
