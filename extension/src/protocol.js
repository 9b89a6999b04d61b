// The extension's message protocol (extension/PROTOCOL.md): every action,
// who may send it, and the arguments it takes. The service worker's one
// dispatch table is built from this; anything not listed here is refused.
//
// Senders: "page" = the extension's own pages (popup, options);
//          "content" = the isolated-world content script in a web page.
// A page script (the web site's own code) cannot send extension messages at
// all; the content script never forwards anything from it but photo bytes
// taken from a trusted user event.

/** Largest photo the extension sends (bytes): base64 in a JSON message stays under Chromium's 64 MiB cap. */
export const MAX_IMAGE_BYTES = 32 * 1024 * 1024;

const photo = { type: 'b64', max: MAX_IMAGE_BYTES, min: 1 };
const fileName = { type: 'string', max: 255 };
const mimeType = { type: 'string', max: 100 };
const host = { type: 'string', min: 1, max: 253 };
const jobId = { type: 'string', min: 1, max: 100, pattern: /^[A-Za-z0-9_-]+$/ };
const profile = { type: 'string', min: 1, max: 64, pattern: /^[A-Za-z0-9_.-]+$/, optional: true };

export const ACTIONS = Object.freeze({
  // from content scripts
  'site.state': { from: ['content'], args: {} },
  cloak: { from: ['content'], args: { name: fileName, type: mimeType, data: photo } },
  // from the extension's pages
  status: { from: ['page'], args: {} },
  'settings.get': { from: ['page'], args: {} },
  'settings.put': { from: ['page'], args: { change: { type: 'object' } } },
  'site.get': { from: ['page'], args: { host } },
  'site.toggle': { from: ['page'], args: { host } },
  pair: { from: ['page'], args: { code: { type: 'string', pattern: /^\s*[A-Za-z0-9]{4}-?[A-Za-z0-9]{4}\s*$/ } } },
  unpair: { from: ['page'], args: {} },
  'config.get': { from: ['page'], args: {} },
  'config.set': { from: ['page'], args: { port: { type: 'int', min: 1, max: 65535 } } },
  detect: { from: ['page'], args: { data: photo } },
  enrol: {
    from: ['page'],
    args: {
      data: photo,
      profile,
      strength: { type: 'enum', values: ['low', 'mid', 'high'], optional: true },
      k: { type: 'int', min: 1, max: 64, optional: true },
      steps: { type: 'int', min: 1, max: 5000, optional: true },
    },
  },
  'job.next': { from: ['page'], args: { id: jobId, version: { type: 'int', min: 0 } } },
  'job.cancel': { from: ['page'], args: { id: jobId } },
  'cloak.test': { from: ['page'], args: { name: fileName, type: mimeType, data: photo } },
  'last.get': { from: ['page'], args: {} },
});
