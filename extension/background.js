// FaceCloak's service worker (Firefox: background script). The only place
// that holds the daemon token and talks to the daemon; everything else
// reaches it through one message door (src/dispatch.js, PROTOCOL.md).

import { ACTIONS } from './src/protocol.js';
import { createDispatcher } from './src/dispatch.js';
import { createHandlers, sseEvents } from './src/handlers.js';
import { DaemonClient } from './src/daemon.js';
import { JobHub } from './src/jobs.js';
import { RateLimiter } from './src/ratelimit.js';
import { createStore } from './src/store.js';
import { toWire } from './src/errors.js';

const api = globalThis.browser?.runtime?.id ? globalThis.browser : globalThis.chrome;
const extensionOrigin = api.runtime.getURL('').replace(/\/$/, '');
const store = createStore(api.storage.local);
const daemon = new DaemonClient({
  port: () => store.getPort(),
  token: async () => (await store.getAuth())?.token ?? null,
});
const tabLimiter = new RateLimiter({ capacity: 24, perMinute: 30 });
const globalLimiter = new RateLimiter({ capacity: 60, perMinute: 60 });
const jobs = new JobHub({
  openStream: sseEvents(daemon),
  getJob: async (id) => (await daemon.request('GET', `/v1/jobs/${encodeURIComponent(id)}`)).body,
  describe: toWire,
});
const handlers = createHandlers({
  daemon,
  store,
  tabLimiter,
  globalLimiter,
  jobs,
  clientName: extensionOrigin.startsWith('moz-extension:') ? 'FaceCloak for Firefox' : 'FaceCloak for Chromium',
});
const handle = createDispatcher({
  actions: ACTIONS,
  handlers,
  extensionId: api.runtime.id,
  extensionOrigin,
  log: (err) => console.error('FaceCloak:', err),
});

api.runtime.onMessage.addListener((message, sender, sendResponse) => {
  handle(message, sender).then(sendResponse);
  return true;
});
