// Helpers shared by the popup and the options page. Both talk to the
// service worker only through sendMessage (src/door.js).

import { bytesToBase64, base64ToBytes } from '../src/b64.js';

export { sendMessage } from '../src/door.js';

export const $ = (sel, root = document) => root.querySelector(sel);

/** A File -> base64 of its bytes. */
export async function fileToBase64(file) {
  return bytesToBase64(new Uint8Array(await file.arrayBuffer()));
}

/** base64 + type -> an object URL (for <img>). */
export function base64ToUrl(b64, type) {
  return URL.createObjectURL(new Blob([base64ToBytes(b64)], { type }));
}

/** Build an element: el('p', {class: 'x', text: 'hi'}, child, ...). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

export function timeAgo(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return '';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleString();
}

/** Show a status line: kind is 'ok', 'error', 'busy' or ''. */
export function say(node, text, kind = '') {
  node.textContent = text;
  node.dataset.kind = kind;
}
