// What the extension keeps in storage.local. The token is read only by the
// service worker; pages and content scripts ask through the message door.
//   auth:      {token, id}          from POST /v1/pair
//   config:    {port}               where the daemon listens
//   settings:  {settings, at}       last GET/PUT /v1/settings answer, so the
//                                   extension knows the enabled sites while
//                                   the daemon is down
//   lastCloak: {...}                the last cloak result, for the popup

import { DEFAULT_PORT } from './daemon.js';

export function createStore(area) {
  const get = async (key) => (await area.get(key))[key] ?? null;
  const set = (key, value) => area.set({ [key]: value });
  return {
    getAuth: () => get('auth'),
    setAuth: (auth) => set('auth', auth),
    clearAuth: () => area.remove('auth'),
    async getPort() {
      const config = await get('config');
      return config && Number.isInteger(config.port) ? config.port : DEFAULT_PORT;
    },
    setPort: (port) => set('config', { port }),
    getSettingsCache: () => get('settings'),
    setSettingsCache: (settings, at = Date.now()) => set('settings', { settings, at }),
    getLast: () => get('lastCloak'),
    setLast: (last) => set('lastCloak', last),
  };
}
