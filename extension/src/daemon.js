// HTTP client for the local daemon (daemon/PROTOCOL.md). Used only by the
// service worker: it alone holds the token. Every failure becomes an
// FcError whose code is the daemon's own (`no_profile`, `too_large`, ...) or
// one of ours: `unreachable`, `timeout`, `not_paired`.

import { FcError } from './errors.js';

export const DEFAULT_PORT = 47733;

export class DaemonClient {
  /**
   * @param {object} o
   * @param {() => Promise<number>} o.port  the daemon's port
   * @param {() => Promise<string|null>} o.token  the pairing token, or null
   * @param {typeof fetch} [o.fetchFn]
   */
  constructor({ port, token, fetchFn = (...a) => fetch(...a) }) {
    this.port = port;
    this.token = token;
    this.fetchFn = fetchFn;
  }

  async base() {
    return `http://127.0.0.1:${await this.port()}`;
  }

  /**
   * One request. `expect`: 'json' (parsed body), 'bytes' (Uint8Array),
   * 'none', or 'stream' (the Response, for the caller to read).
   * Returns {status, headers, body}.
   */
  async request(method, path, { body, contentType, query, auth = true, timeoutMs = 15000, expect = 'json', signal } = {}) {
    const base = await this.base();
    const url = new URL(path, base);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
    }
    const headers = {};
    if (auth) {
      const token = await this.token();
      if (!token) throw new FcError('not_paired', 'FaceCloak is not paired with its daemon yet: open FaceCloak\'s options and pair.');
      headers['X-FaceCloak-Token'] = token;
    }
    let payload = body;
    if (body !== undefined && !(body instanceof Uint8Array) && !(body instanceof ArrayBuffer)) {
      payload = JSON.stringify(body);
      headers['Content-Type'] = 'application/json';
    } else if (contentType) {
      headers['Content-Type'] = contentType;
    }
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    const timer = timeoutMs ? setTimeout(() => controller.abort(), timeoutMs) : null;
    try {
      const res = await this.fetchFn(url.href, {
        method, headers, body: payload, signal: controller.signal, cache: 'no-store', credentials: 'omit', redirect: 'error',
      });
      if (expect === 'stream' && timer) clearTimeout(timer); // a stream may run as long as the job does
      return await this.finish(res, expect);
    } catch (err) {
      if (err instanceof FcError) throw err;
      if (controller.signal.aborted && !(signal && signal.aborted)) {
        throw new FcError('timeout', `FaceCloak's daemon took longer than ${Math.round(timeoutMs / 1000)} s to answer.`);
      }
      throw new FcError('unreachable', `FaceCloak's daemon is not running (nothing answers on 127.0.0.1:${url.port}). Start it with "facecloak serve".`);
    } finally {
      if (timer) clearTimeout(timer);
      if (signal && expect !== 'stream') signal.removeEventListener('abort', onAbort);
    }
  }

  async finish(res, expect) {
    if (!res.ok) {
      let code = `http_${res.status}`;
      let message = `The daemon answered ${res.status}.`;
      try {
        const err = await res.json();
        if (err && typeof err.error === 'string') code = err.error;
        if (err && typeof err.message === 'string') message = err.message;
      } catch {
        // not JSON: keep the generic message
      }
      throw new FcError(code, message, { status: res.status });
    }
    if (expect === 'stream') return { status: res.status, headers: res.headers, body: res };
    if (expect === 'none') return { status: res.status, headers: res.headers, body: null };
    if (expect === 'bytes') return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) };
    return { status: res.status, headers: res.headers, body: await res.json() };
  }
}
