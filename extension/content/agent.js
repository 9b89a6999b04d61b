// FaceCloak's content-script logic (isolated world, loaded by isolated.js).
//
// On an enabled site, every photo the page would get from the user is
// swapped for the cloaked one before the page's code sees it:
//   - file inputs: the trusted `input` event is stopped at the first
//     capture listener, the input is emptied at once (so neither the page
//     nor a form submission can read the original meanwhile), and once the
//     daemon answers the cloaked files are put in with a DataTransfer and
//     `input` + `change` are dispatched again;
//   - drop and paste: the trusted event is cancelled and stopped, and a
//     DragEvent / ClipboardEvent carrying the cloaked files is dispatched
//     on the same target.
// Only files from trusted events (which a page cannot forge) are sent for
// cloaking: this script takes no bytes from the page. If the daemon cannot
// cloak, the upload is blocked with a message and a Retry, unless the site
// is set to fail open, in which case the user is told and the original goes.

import { makeSendMessage } from '../src/door.js';
import { looksLikePhoto } from '../src/images.js';
import { base64ToBytes, bytesToBase64 } from '../src/b64.js';
import { createNotices } from './toast.js';

const MAX_BYTES = 32 * 1024 * 1024; // protocol.js MAX_IMAGE_BYTES
const MAX_FILES = 50;
const PARALLEL = 2;

async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** The toast text for a set of cloak results. */
export function summarize(results) {
  const photos = results.filter(Boolean);
  const cloaked = photos.reduce((s, r) => s + (r.cloaked || 0), 0);
  const found = photos.reduce((s, r) => s + (r.found || 0), 0);
  const what = photos.length === 1 ? 'photo' : `${photos.length} photos`;
  if (cloaked > 0) {
    const others = found > cloaked ? ` (${plural(found - cloaked, 'other face', 'other faces')} left as they are)` : '';
    return `FaceCloak cloaked your ${what}: ${plural(cloaked, 'face', 'faces')}${others}.`;
  }
  if (found > 0) return `FaceCloak checked your ${what}: ${plural(found, 'face', 'faces')} found, none of them yours; sent without a mask.`;
  return `FaceCloak checked your ${what}: no face found; metadata cleaned.`;
}

export async function startAgent({ api, win, doc, hook, openRoot, snapshot }) {
  const send = makeSendMessage(api.runtime);
  const notices = createNotices(doc, win);
  const handled = new WeakSet();
  const inputs = new WeakMap(); // input -> {seq, swallowChange}
  let site = null; // until the service worker answers: hold anything with a photo

  async function refresh() {
    try {
      site = await send('site.state');
    } catch {
      // keep what we had: the cloak request decides again with the freshest settings
    }
  }
  await refresh();
  api.storage.onChanged.addListener((changes, area) => {
    if (area === 'local' && changes.settings) refresh();
  });

  // On when the site is enabled, or while we do not know yet. Never paired
  // (no settings known at all): off, the user has not set FaceCloak up.
  const active = () => site === null || site.enabled;
  const stop = (e) => {
    e.preventDefault();
    e.stopImmediatePropagation();
  };

  /** The innermost node at the event's point (drop) or focus (paste), through closed shadow roots. */
  function deepTarget(e, start) {
    let node = start;
    for (let depth = 0; depth < 32; depth++) {
      const root = openRoot(node);
      if (!root) break;
      hook(root);
      let inner = null;
      try {
        inner = e.type === 'drop' ? root.elementFromPoint(e.clientX, e.clientY) : root.activeElement;
      } catch {
        inner = null;
      }
      if (!inner || inner === node) break;
      node = inner;
    }
    return node;
  }

  function onEvent(e) {
    if (!e.isTrusted || handled.has(e)) return;
    const start = e.composedPath()[0];
    if (e.type === 'drop' || e.type === 'paste') {
      const dt = e.type === 'drop' ? e.dataTransfer : e.clipboardData;
      if (!dt || !active()) return;
      const files = [...dt.files];
      if (!files.some(looksLikePhoto)) return;
      handled.add(e);
      stop(e);
      const target = deepTarget(e, start);
      process(snapshot(e, target));
      return;
    }
    // input / change
    if (!(start instanceof HTMLInputElement)) {
      // Perhaps a file input inside a closed shadow root: listen there, the event goes on to it.
      const root = start instanceof HTMLElement ? openRoot(start) : null;
      if (root) hook(root);
      return;
    }
    if (start.type !== 'file') return;
    const state = inputs.get(start) || { seq: 0, swallowChange: false };
    inputs.set(start, state);
    if (e.type === 'change' && state.swallowChange) {
      state.swallowChange = false;
      handled.add(e);
      stop(e);
      return;
    }
    if (!active()) return;
    const files = [...start.files];
    if (!files.some(looksLikePhoto)) return;
    handled.add(e);
    stop(e);
    state.swallowChange = e.type === 'input';
    const record = snapshot(e, start);
    clearInput(start);
    process(record);
  }

  function clearInput(input) {
    try {
      input.files = new DataTransfer().files;
    } catch {
      input.value = '';
    }
  }

  function takeHeld(record) {
    if (record.kind === 'input') {
      if (!active() || !record.files.some(looksLikePhoto)) {
        deliver(record, record.files);
        return;
      }
      clearInput(record.target);
    } else if (!active() || !record.files.some(looksLikePhoto)) {
      deliver(record, record.files);
      return;
    }
    process(record);
  }

  /** Cloak every photo in the record; {ok, files, results} or {ok: false, error}. */
  async function cloakAll(record) {
    if (record.files.length > MAX_FILES) {
      return { ok: false, error: { name: '', code: 'too_many', message: `FaceCloak takes at most ${MAX_FILES} files at once.`, fail: 'closed' } };
    }
    record.done = record.done || [];
    const files = record.files;
    const results = new Array(files.length).fill(null);
    let firstError = null;
    const out = await mapLimit(files, PARALLEL, async (file, i) => {
      if (!looksLikePhoto(file)) return file;
      if (record.done[i]) {
        results[i] = record.done[i].result;
        return record.done[i].file;
      }
      try {
        if (file.size > MAX_BYTES) {
          throw Object.assign(new Error(`${file.name} is larger than FaceCloak's ${MAX_BYTES >> 20} MiB limit.`), { code: 'too_large', details: {} });
        }
        const data = bytesToBase64(new Uint8Array(await file.arrayBuffer()));
        const res = await send('cloak', { name: file.name.slice(0, 255), type: file.type.slice(0, 100), data });
        const cloaked = new File([base64ToBytes(res.data)], res.name, { type: res.type, lastModified: file.lastModified });
        results[i] = res;
        record.done[i] = { file: cloaked, result: res };
        return cloaked;
      } catch (err) {
        if (!firstError) firstError = { name: file.name, code: err.code || 'error', message: err.message, fail: err.details?.fail ?? site?.fail ?? 'closed' };
        return null;
      }
    });
    if (firstError) return { ok: false, error: firstError };
    return { ok: true, files: out, results };
  }

  async function process(record) {
    const state = record.kind === 'input' ? inputs.get(record.target) : null;
    const seq = state ? ++state.seq : 0;
    const stale = () => state && state.seq !== seq;
    const photos = record.files.filter(looksLikePhoto).length;
    if (state && state.notice) state.notice.close(); // a new choice replaces the last one's message
    const notice = notices.show({ kind: 'progress', text: `FaceCloak is cloaking ${photos === 1 ? 'your photo' : `${photos} photos`}…` });
    if (state) state.notice = notice;
    const outcome = await cloakAll(record);
    if (stale()) {
      notice.close();
      return;
    }
    if (outcome.ok) {
      deliver(record, outcome.files);
      notice.update({ kind: 'done', text: summarize(outcome.results), timeoutMs: 6000 });
      return;
    }
    const { error } = outcome;
    if (error.code === 'site_disabled') {
      site = { ...(site || {}), enabled: false };
      notice.close();
      deliver(record, record.files);
      return;
    }
    if (error.fail === 'open') {
      notice.update({
        kind: 'warn',
        text: `FaceCloak could not cloak ${error.name || 'your photo'}: ${error.message} This site is set to let originals through, so the original photo was used.`,
        timeoutMs: 15000,
      });
      deliver(record, record.files);
      return;
    }
    notice.update({
      kind: 'blocked',
      text: `FaceCloak blocked this upload: ${error.message} The site did not receive ${error.name || 'the photo'}.`,
      actions: [
        { label: 'Retry', run: () => { notice.close(); if (!stale()) process(record); } },
        { label: 'Dismiss', run: () => notice.close() },
      ],
    });
  }

  /** Give the page the files: in the input (and its events again), or a new drop/paste event. */
  function deliver(record, files) {
    const dt = new DataTransfer();
    for (const f of files) if (f) dt.items.add(f);
    if (record.kind === 'input') {
      const input = record.target;
      input.files = dt.files;
      input.dispatchEvent(new Event('input', { bubbles: true, composed: true }));
      input.dispatchEvent(new Event('change', { bubbles: true }));
      return;
    }
    for (const [type, value] of record.strings) {
      try {
        dt.setData(type, value);
      } catch {
        // a type the browser will not set from script: leave it out
      }
    }
    const target = record.target && record.target.isConnected ? record.target : doc.activeElement || doc.body || doc.documentElement;
    const init = { ...record.init, bubbles: true, cancelable: true, composed: true };
    if (record.kind === 'drop') {
      try {
        dt.dropEffect = record.dropEffect || 'copy';
      } catch {
        // read-only in some browsers
      }
      target.dispatchEvent(new DragEvent('drop', { ...init, dataTransfer: dt }));
    } else {
      target.dispatchEvent(new ClipboardEvent('paste', { ...init, clipboardData: dt }));
    }
  }

  let lastRefusal = 0;
  /** Tell the user once in a while that the page was refused an API FaceCloak cannot cloak. */
  function refusedApi(kind) {
    const now = Date.now();
    if (now - lastRefusal < 5000) return;
    lastRefusal = now;
    const text = kind === 'picker'
      ? 'FaceCloak stopped this site from opening a file picker whose photos it cannot cloak. Use the site\'s upload button, or drag the photo onto the page.'
      : 'FaceCloak stopped this site from reading an image straight from the clipboard. Paste it with Ctrl+V instead, so FaceCloak can cloak it.';
    notices.show({ kind: 'warn', text, timeoutMs: 12000 });
  }

  return { onEvent, takeHeld, active, refusedApi };
}
