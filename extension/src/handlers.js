// What each action of the protocol does (the service worker's side). The
// dispatcher (dispatch.js) has already checked the sender and the arguments.

import { FcError, toWire } from './errors.js';
import { base64ToBytes, bytesToBase64 } from './b64.js';
import { outputFile, sniffImageType } from './images.js';
import { mergeSettings } from './settings.js';
import { normalizeHost, siteState, toggleChange } from './sites.js';
import { SseParser } from './sse.js';

const intHeader = (headers, name) => {
  const v = parseInt(headers.get(name) || '', 10);
  return Number.isFinite(v) ? v : null;
};

/** Read the daemon's event stream for one job as {event, data} items. */
export function sseEvents(daemon) {
  return async function* openStream(id) {
    const res = await daemon.request('GET', `/v1/jobs/${encodeURIComponent(id)}/events`, { expect: 'stream', timeoutMs: 10000 });
    const reader = res.body.body.getReader();
    const decoder = new TextDecoder();
    const queue = [];
    const parser = new SseParser((ev) => queue.push(ev));
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
        while (queue.length) yield queue.shift();
      }
      parser.end();
    } finally {
      reader.cancel().catch(() => {});
    }
  };
}

/**
 * @param {object} deps
 * @param {import('./daemon.js').DaemonClient} deps.daemon
 * @param {ReturnType<import('./store.js').createStore>} deps.store
 * @param {{take(key): boolean}} deps.tabLimiter   per tab
 * @param {{take(key): boolean}} deps.globalLimiter all tabs together
 * @param {import('./jobs.js').JobHub} deps.jobs
 * @param {string} deps.clientName  sent when pairing
 */
export function createHandlers({ daemon, store, tabLimiter, globalLimiter, jobs, clientName, now = () => Date.now() }) {
  let refreshing = null;

  /** The settings, from the daemon when the cache is older than maxAgeMs, else the cache. */
  async function settingsFor({ maxAgeMs = 0, timeoutMs = 5000 } = {}) {
    const cache = await store.getSettingsCache();
    if (cache && now() - cache.at <= maxAgeMs) return { settings: cache.settings, cached: true, at: cache.at, error: null };
    if (!refreshing) {
      refreshing = (async () => {
        try {
          const res = await daemon.request('GET', '/v1/settings', { timeoutMs });
          const at = now();
          await store.setSettingsCache(res.body, at);
          return { settings: res.body, cached: false, at, error: null };
        } catch (err) {
          return { settings: cache ? cache.settings : null, cached: Boolean(cache), at: cache ? cache.at : null, error: toWire(err) };
        } finally {
          refreshing = null;
        }
      })();
    }
    return refreshing;
  }

  async function putSettings(change) {
    const { settings } = await settingsFor({ maxAgeMs: 60000 });
    mergeSettings(settings || {}, change); // throws bad_settings before anything is sent
    const res = await daemon.request('PUT', '/v1/settings', { body: change });
    await store.setSettingsCache(res.body, now());
    return res.body;
  }

  async function cloakBytes(args) {
    const bytes = base64ToBytes(args.data);
    const inType = sniffImageType(bytes.subarray(0, 16));
    const res = await daemon.request('POST', '/v1/cloak', {
      body: bytes,
      contentType: inType || args.type || 'application/octet-stream',
      expect: 'bytes',
      timeoutMs: 180000,
    });
    const out = outputFile(args.name, args.type, inType, res.headers.get('content-type'));
    return {
      data: bytesToBase64(res.body),
      name: out.name,
      type: out.type,
      size: res.body.length,
      found: intHeader(res.headers, 'X-FaceCloak-Faces-Found'),
      cloaked: intHeader(res.headers, 'X-FaceCloak-Faces-Cloaked'),
      changed: res.headers.get('X-FaceCloak-Changed') === '1',
      ms: intHeader(res.headers, 'X-FaceCloak-Ms'),
      profile: res.headers.get('X-FaceCloak-Profile'),
    };
  }

  return {
    async 'site.state'(_args, who) {
      const { settings, error } = await settingsFor({ maxAgeMs: 15000, timeoutMs: 2000 });
      return { ...siteState(settings, who.frameHost, who.topHost), known: settings !== null, error };
    },

    async cloak(args, who) {
      const { settings } = await settingsFor({ maxAgeMs: 15000, timeoutMs: 2000 });
      const site = siteState(settings, who.frameHost, who.topHost);
      if (!site.enabled) {
        throw new FcError('site_disabled', `FaceCloak is off for ${who.frameHost}.`, { fail: 'open' });
      }
      const last = { at: new Date(now()).toISOString(), host: who.frameHost, name: args.name };
      try {
        if (!globalLimiter.take('all') || !tabLimiter.take(who.tabId)) {
          throw new FcError('rate_limited', 'FaceCloak got too many photos in a short time; wait a minute, then retry.');
        }
        const result = await cloakBytes(args);
        const { data, ...summary } = result;
        await store.setLast({ ...last, ok: true, ...summary, error: null });
        return result;
      } catch (err) {
        const wire = toWire(err);
        await store.setLast({ ...last, ok: false, error: wire });
        throw new FcError(wire.code, wire.message, { status: wire.status, fail: site.fail });
      }
    },

    async status() {
      const port = await store.getPort();
      const auth = await store.getAuth();
      const base = { port, reachable: false, paired: false, error: null };
      try {
        const res = await daemon.request('GET', '/v1/status', { timeoutMs: 3000, auth: Boolean(auth) });
        return { ...base, ...res.body, reachable: true, paired: true };
      } catch (err) {
        const wire = toWire(err);
        if (err.status === 401 || err.status === 403) {
          const message = auth
            ? 'The daemon no longer accepts this extension\'s token: pair again.'
            : 'The daemon is running; pair with it in the options page.';
          return { ...base, reachable: true, error: { ...wire, message } };
        }
        return { ...base, error: wire };
      }
    },

    async 'settings.get'() {
      return settingsFor({ maxAgeMs: 0 });
    },

    async 'settings.put'({ change }) {
      return { settings: await putSettings(change) };
    },

    async 'site.get'({ host }) {
      const h = normalizeHost(host);
      const { settings, cached, error } = await settingsFor({ maxAgeMs: 5000, timeoutMs: 3000 });
      return { ...siteState(settings, h), known: settings !== null, cached, error };
    },

    async 'site.toggle'({ host }) {
      const h = normalizeHost(host);
      const { settings, error } = await settingsFor({ maxAgeMs: 0, timeoutMs: 3000 });
      if (error) throw new FcError(error.code, error.message);
      const updated = await putSettings(toggleChange(settings, h));
      return { ...siteState(updated, h), known: true, cached: false, error: null };
    },

    async pair({ code }) {
      const res = await daemon.request('POST', '/v1/pair', {
        auth: false,
        body: { code: code.trim().toUpperCase(), client: clientName },
        timeoutMs: 10000,
      });
      const { token, id } = res.body || {};
      if (typeof token !== 'string' || !token) throw new FcError('bad_reply', 'The daemon sent no token.');
      await store.setAuth({ token, id: typeof id === 'string' ? id : null });
      await settingsFor({ maxAgeMs: 0 });
      return { paired: true, id: id || null };
    },

    async unpair() {
      const auth = await store.getAuth();
      let revoked = false;
      if (auth && auth.id) {
        try {
          await daemon.request('DELETE', `/v1/tokens/${encodeURIComponent(auth.id)}`, { expect: 'none', timeoutMs: 5000 });
          revoked = true;
        } catch {
          // the daemon is down or already forgot the token: forget it here anyway
        }
      }
      await store.clearAuth();
      return { revoked };
    },

    async 'config.get'() {
      return { port: await store.getPort() };
    },

    async 'config.set'({ port }) {
      await store.setPort(port);
      return { port };
    },

    async detect({ data }) {
      const bytes = base64ToBytes(data);
      const res = await daemon.request('POST', '/v1/detect', {
        body: bytes,
        contentType: sniffImageType(bytes.subarray(0, 16)) || 'application/octet-stream',
        timeoutMs: 60000,
      });
      return res.body;
    },

    async enrol({ data, profile, strength, k, steps }) {
      const bytes = base64ToBytes(data);
      const res = await daemon.request('POST', '/v1/enrol', {
        body: bytes,
        contentType: sniffImageType(bytes.subarray(0, 16)) || 'application/octet-stream',
        query: { profile, strength, k, steps },
        timeoutMs: 60000,
      });
      const id = res.body && res.body.job;
      if (typeof id !== 'string') throw new FcError('bad_reply', 'The daemon started no job.');
      jobs.watch(id);
      return { job: id };
    },

    async 'job.next'({ id, version }) {
      return jobs.next(id, version);
    },

    async 'job.cancel'({ id }) {
      await daemon.request('DELETE', `/v1/jobs/${encodeURIComponent(id)}`, { expect: 'none' });
      return { cancelled: true };
    },

    async 'cloak.test'(args) {
      return cloakBytes(args);
    },

    async 'last.get'() {
      return store.getLast();
    },
  };
}
