// The toolbar popup: daemon status, this site's switch, the last result.

import { $, say, sendMessage, timeAgo } from './common.js';
import { hostFromUrl } from '../src/sites.js';

const api = globalThis.browser?.runtime?.id ? globalThis.browser : globalThis.chrome;

async function currentHost() {
  // ?host= lets the popup be opened in a tab for a given site (tests, screenshots).
  const param = new URLSearchParams(location.search).get('host');
  if (param) return param;
  const [tab] = await api.tabs.query({ active: true, currentWindow: true });
  return tab ? hostFromUrl(tab.url || '') : '';
}

async function showStatus() {
  const dot = $('#daemon-dot');
  try {
    const s = await sendMessage('status');
    if (s.reachable && s.paired) {
      dot.dataset.kind = s.active_profile ? 'ok' : 'warn';
      $('#daemon-text').textContent = `Daemon running (port ${s.port}), paired`;
      $('#daemon-detail').textContent = s.active_profile
        ? `Profile: ${s.active_profile}${s.enrolling ? ' · enrolling…' : ''}`
        : 'No profile yet: enrol a selfie in the options.';
    } else if (s.reachable) {
      dot.dataset.kind = 'warn';
      $('#daemon-text').textContent = `Daemon running (port ${s.port}), not paired`;
      $('#daemon-detail').textContent = s.error ? s.error.message : '';
    } else {
      dot.dataset.kind = 'error';
      $('#daemon-text').textContent = `Daemon not running (port ${s.port})`;
      $('#daemon-detail').textContent = 'Start it with "facecloak serve". Enabled sites block photo uploads meanwhile.';
    }
  } catch (err) {
    dot.dataset.kind = 'error';
    $('#daemon-text').textContent = err.message;
  }
}

function renderSite(state) {
  const toggle = $('#site-toggle');
  toggle.checked = state.enabled;
  toggle.disabled = !state.host;
  $('#site-label').textContent = state.enabled ? 'on' : 'off';
  const parts = [];
  if (state.key && state.key !== state.host) parts.push(`covered by ${state.key}`);
  if (state.enabled) parts.push(state.fail === 'open' ? 'if the daemon fails: original sent (fail open)' : 'if the daemon fails: upload blocked');
  if (!state.known) parts.push('settings unknown until the daemon is paired');
  else if (state.cached && state.error) parts.push('daemon down: showing saved settings');
  $('#site-detail').textContent = parts.join(' · ');
}

async function showSite(host) {
  $('#site-name').textContent = host || '(not a web page)';
  if (!host) return;
  try {
    renderSite(await sendMessage('site.get', { host }));
  } catch (err) {
    say($('#site-status'), err.message, 'error');
  }
  $('#site-toggle').addEventListener('change', async () => {
    const toggle = $('#site-toggle');
    toggle.disabled = true;
    say($('#site-status'), 'Saving…', 'busy');
    try {
      renderSite(await sendMessage('site.toggle', { host }));
      say($('#site-status'), '', '');
    } catch (err) {
      toggle.checked = !toggle.checked;
      say($('#site-status'), `Not changed: ${err.message}`, 'error');
    }
    toggle.disabled = false;
  });
}

async function showLast() {
  const last = await sendMessage('last.get').catch(() => null);
  if (!last) return;
  const node = $('#last');
  const when = timeAgo(last.at);
  if (last.ok) {
    const faces = last.cloaked ? `${last.cloaked} of ${last.found} face(s) cloaked` : last.found ? `${last.found} face(s), none yours` : 'no face';
    node.textContent = `${last.name} on ${last.host}: ${faces}${last.ms !== null ? `, ${last.ms} ms` : ''} · ${when}`;
    node.className = 'status';
    node.dataset.kind = 'ok';
  } else {
    node.textContent = `${last.name} on ${last.host}: not cloaked (${last.error?.message || 'error'}) · ${when}`;
    node.className = 'status';
    node.dataset.kind = 'error';
  }
}

$('#open-options').addEventListener('click', () => api.runtime.openOptionsPage());
const host = await currentHost();
await Promise.all([showStatus(), showSite(host), showLast()]);
document.body.dataset.ready = '1';
