// FaceCloak, isolated content-script world, document_start. Content
// scripts cannot be ES modules, so this bootstrap does only what must be
// synchronous from the first moment (listen before the page does, take the
// elements the MAIN-world script hands over) and loads the logic
// (content/agent.js) as a module. Events that carry files and arrive before
// the module is ready are held, never let through.
(() => {
  'use strict';
  if (globalThis.__facecloakIsolated) return;
  globalThis.__facecloakIsolated = true;
  const api = globalThis.browser?.runtime?.id ? globalThis.browser : globalThis.chrome;
  const TYPES = ['input', 'change', 'drop', 'paste'];
  const MAX_HOOKS = 20000;
  const hooked = new WeakSet();
  let hooks = 0;
  let agent = null;
  const early = [];

  /** The shadow root of `el`, open or closed (content scripts may see closed ones). */
  function openRoot(el) {
    try {
      if (!(el instanceof HTMLElement)) return null;
      if (api.dom && api.dom.openOrClosedShadowRoot) return api.dom.openOrClosedShadowRoot(el) || null;
      return el.openOrClosedShadowRoot || el.shadowRoot || null; // Firefox
    } catch {
      return null;
    }
  }

  /** Listen (capture) on a shadow root or a detached input as on window. */
  function hook(target) {
    if (!target || hooked.has(target) || hooks >= MAX_HOOKS) return;
    hooked.add(target);
    hooks += 1;
    for (const type of TYPES) target.addEventListener(type, onEvent, true);
  }

  /** What the event carries, taken now: a DataTransfer is unreadable once dispatch ends. */
  function snapshot(e, target) {
    const dt = e.type === 'drop' ? e.dataTransfer : e.type === 'paste' ? e.clipboardData : null;
    if (!dt) return { kind: 'input', target, files: [...target.files], strings: [], init: {} };
    const strings = [];
    for (const type of dt.types) if (type !== 'Files') strings.push([type, dt.getData(type)]);
    const init = {};
    for (const k of ['clientX', 'clientY', 'screenX', 'screenY', 'ctrlKey', 'shiftKey', 'altKey', 'metaKey']) {
      if (k in e) init[k] = e[k];
    }
    return { kind: e.type, target, files: [...dt.files], strings, init, dropEffect: dt.dropEffect };
  }

  function onEvent(e) {
    if (!e.isTrusted) return; // our own re-dispatched events, and anything the page makes
    if (agent) {
      agent.onEvent(e);
      return;
    }
    // Not ready yet (the first milliseconds of a page): hold anything with files.
    const target = e.composedPath()[0];
    const dt = e.type === 'drop' ? e.dataTransfer : e.type === 'paste' ? e.clipboardData : null;
    const isFileInput = target instanceof HTMLInputElement && target.type === 'file' && target.files && target.files.length > 0;
    if ((dt && [...dt.types].includes('Files')) || (!dt && isFileInput)) {
      e.preventDefault();
      e.stopImmediatePropagation();
      if (e.type !== 'change' || !early.some((r) => r.target === target)) early.push(snapshot(e, target));
    }
  }

  for (const type of TYPES) window.addEventListener(type, onEvent, true);

  // Elements from the MAIN-world script (content/main-world.js). Untrusted:
  // at most this makes us listen for trusted events on one more node.
  document.addEventListener('facecloak-handover', (e) => {
    const node = e.relatedTarget;
    if (!(node instanceof HTMLElement)) return;
    if (node instanceof HTMLInputElement) {
      if (node.type === 'file') hook(node);
      return;
    }
    const root = openRoot(node);
    if (root) hook(root);
  });

  // Guard queries (content/main-world.js): may the page read images through a
  // file picker or the async clipboard? Cancel = no. Until the agent knows
  // the site, the answer is no.
  for (const kind of ['picker', 'clipboard']) {
    document.addEventListener(`facecloak-guard-${kind}`, (e) => {
      if (agent && !agent.active()) return;
      e.preventDefault();
      if (agent) agent.refusedApi(kind);
    });
  }

  import(api.runtime.getURL('content/agent.js'))
    .then((mod) => mod.startAgent({ api, win: window, doc: document, hook, openRoot, snapshot }))
    .then((a) => {
      agent = a;
      for (const record of early.splice(0)) agent.takeHeld(record);
    })
    .catch((err) => console.error('FaceCloak: the content script failed to start', err));
})();
