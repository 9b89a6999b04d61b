// Which sites FaceCloak acts on. A site key is a host name from the daemon's
// settings ("facebook.com"); it covers that host and its subdomains
// ("m.facebook.com"). The most specific key wins, so "dev.example.com"
// disabled inside "example.com" enabled is honoured.

/** Lower-case host without a trailing dot or IPv6 brackets; "" if not a host. */
export function normalizeHost(host) {
  if (typeof host !== 'string') return '';
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  while (h.endsWith('.')) h = h.slice(0, -1);
  if (!h || h.length > 253 || /[\s/?#@]/.test(h)) return '';
  return h;
}

/** The host of an http(s) URL, normalised; "" for other schemes or junk. */
export function hostFromUrl(url) {
  if (typeof url !== 'string') return '';
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return '';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return '';
  return normalizeHost(parsed.hostname);
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** True if `key` covers `host`: the same host, or (for names) a subdomain of it. */
export function covers(key, host) {
  const k = normalizeHost(key);
  const h = normalizeHost(host);
  if (!k || !h) return false;
  if (k === h) return true;
  if (IPV4.test(h) || h.includes(':')) return false; // addresses have no subdomains
  return h.endsWith('.' + k);
}

/**
 * The site entry that governs `host`: {key, enabled, fail}, or null if no key
 * covers it. `sites` is the daemon's settings.sites object.
 */
export function matchSite(sites, host) {
  if (!sites || typeof sites !== 'object') return null;
  let best = null;
  for (const key of Object.keys(sites)) {
    if (!covers(key, host)) continue;
    if (best === null || normalizeHost(key).length > normalizeHost(best).length) best = key;
  }
  if (best === null) return null;
  const entry = sites[best] || {};
  return {
    key: best,
    enabled: entry.enabled !== false,
    fail: entry.fail === 'open' ? 'open' : 'closed',
  };
}

/**
 * Whether a frame is protected. A frame is cloaked when its own host or its
 * tab's top-level host is enabled, so an upload widget embedded from another
 * host inside an enabled site is covered too. The fail mode comes from the
 * entry that enabled it (the frame's own first).
 */
export function siteState(settings, frameHost, topHost = '') {
  const sites = settings && settings.sites;
  const own = matchSite(sites, frameHost);
  const top = topHost ? matchSite(sites, topHost) : null;
  const governing = own && own.enabled ? own : top && top.enabled ? top : own || top;
  return {
    host: normalizeHost(frameHost),
    key: governing ? governing.key : null,
    enabled: Boolean(governing && governing.enabled),
    fail: governing ? governing.fail : 'closed',
  };
}

/**
 * The key a new entry for `host` gets: the host itself, less a leading
 * "www." when a name with a dot remains ("www.com" stays, never "com").
 */
export function siteKeyFor(host) {
  const h = normalizeHost(host);
  return h.startsWith('www.') && h.slice(4).includes('.') ? h.slice(4) : h;
}

/**
 * The partial settings object (for PUT /v1/settings) that flips `host`: the
 * governing entry is toggled in place (keeping its fail mode); a host no key
 * covers gets a new enabled, fail-closed entry.
 */
export function toggleChange(settings, host) {
  const h = normalizeHost(host);
  if (!h) throw new Error('not a host name: ' + host);
  const match = matchSite(settings && settings.sites, h);
  if (match) return { sites: { [match.key]: { enabled: !match.enabled, fail: match.fail } } };
  return { sites: { [siteKeyFor(h)]: { enabled: true, fail: 'closed' } } };
}
