// The daemon's settings object (daemon/PROTOCOL.md, "Status and settings"),
// as the extension merges and checks it. The daemon stays the authority:
// the extension checks a change before sending it (so a typo is caught in
// the options page), and afterwards caches exactly what the daemon returned.

import { FcError } from './errors.js';
import { normalizeHost, siteKeyFor } from './sites.js';

export const STRENGTHS = ['low', 'mid', 'high'];
export const FAIL_MODES = ['closed', 'open'];
const WRITABLE = ['strength', 'only_user', 'strip_gps', 'active_profile', 'sites'];
const HOST = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$|^\d{1,3}(\.\d{1,3}){3}$/;

const bad = (message) => new FcError('bad_settings', message);

/** True if `host` is a site key the daemon accepts. */
export function isSiteKey(host) {
  return typeof host === 'string' && HOST.test(host);
}

function checkSite(host, entry) {
  if (!isSiteKey(host)) throw bad(`"${host}" is not a host name (like facebook.com)`);
  if (entry === null) return null;
  if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw bad(`site ${host}: expected {enabled, fail}`);
  for (const key of Object.keys(entry)) {
    if (key !== 'enabled' && key !== 'fail') throw bad(`site ${host}: unknown key ${key}`);
  }
  const enabled = entry.enabled === undefined ? true : entry.enabled;
  const fail = entry.fail === undefined ? 'closed' : entry.fail;
  if (typeof enabled !== 'boolean') throw bad(`site ${host}: enabled must be true or false`);
  if (!FAIL_MODES.includes(fail)) throw bad(`site ${host}: fail must be "closed" or "open"`);
  return { enabled, fail };
}

/**
 * `current` with the partial `change` applied, as PUT /v1/settings does:
 * top-level keys replace, a site entry replaces that entry, a null site
 * entry removes it. Throws FcError('bad_settings') and leaves `current`
 * untouched on an unknown key or a wrong type.
 */
export function mergeSettings(current, change) {
  if (!change || typeof change !== 'object' || Array.isArray(change)) throw bad('settings must be an object');
  const out = structuredClone(current || {});
  if (!out.sites || typeof out.sites !== 'object') out.sites = {};
  for (const [key, value] of Object.entries(change)) {
    if (!WRITABLE.includes(key)) throw bad(`unknown or read-only setting ${key}`);
    if (key === 'strength') {
      if (!STRENGTHS.includes(value)) throw bad(`strength must be one of ${STRENGTHS.join(', ')}`);
    } else if (key === 'only_user' || key === 'strip_gps') {
      if (typeof value !== 'boolean') throw bad(`${key} must be true or false`);
    } else if (key === 'active_profile') {
      if (value !== null && typeof value !== 'string') throw bad('active_profile must be a name or null');
    } else if (key === 'sites') {
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw bad('sites must be an object');
      for (const [host, entry] of Object.entries(value)) {
        const checked = checkSite(host, entry);
        if (checked === null) delete out.sites[host];
        else out.sites[host] = checked;
      }
      continue;
    }
    out[key] = value;
  }
  return out;
}

/** A site key typed by a person ("https://www.Example.com/x" -> "example.com"), or "". */
export function siteKeyFromInput(text) {
  let t = typeof text === 'string' ? text.trim() : '';
  if (!t) return '';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    try {
      t = new URL(t).hostname;
    } catch {
      return '';
    }
  } else {
    t = t.split(/[/?#]/)[0].replace(/:\d+$/, '');
  }
  const key = siteKeyFor(normalizeHost(t));
  return isSiteKey(key) ? key : '';
}
