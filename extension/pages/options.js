// The options page: connect (port, pairing), the enrolment wizard (selfie,
// face preview, progress), a before/after test, and the settings.

import { $, base64ToUrl, el, fileToBase64, say, sendMessage } from './common.js';
import { siteKeyFromInput } from '../src/settings.js';

const api = globalThis.browser?.runtime?.id ? globalThis.browser : globalThis.chrome;
let selfieB64 = null;
let currentJob = null;

// ---- 1. connect -------------------------------------------------------

async function refreshStatus() {
  const dot = $('#daemon-dot');
  let s;
  try {
    s = await sendMessage('status');
  } catch (err) {
    dot.dataset.kind = 'error';
    $('#daemon-text').textContent = err.message;
    return null;
  }
  $('#port').value = s.port;
  if (s.reachable && s.paired) {
    dot.dataset.kind = 'ok';
    const profile = s.active_profile ? `profile "${s.active_profile}"` : 'no profile yet';
    $('#daemon-text').textContent = `Paired with the daemon on port ${s.port} (version ${s.version}, ${profile}).`;
  } else if (s.reachable) {
    dot.dataset.kind = 'warn';
    $('#daemon-text').textContent = `The daemon is running on port ${s.port}. ${s.error ? s.error.message : ''}`;
  } else {
    dot.dataset.kind = 'error';
    $('#daemon-text').textContent = `No daemon on port ${s.port}: start it with "facecloak serve".`;
  }
  $('#unpair-button').hidden = !s.paired;
  $('#lookalike-hint').hidden = !(s.paired && s.lookalike_pool === false);
  document.body.dataset.paired = s.paired ? '1' : '0';
  return s;
}

$('#save-port').addEventListener('click', async () => {
  try {
    await sendMessage('config.set', { port: Number($('#port').value) });
    say($('#pair-status'), `Daemon port set to ${$('#port').value}.`, 'ok');
  } catch (err) {
    say($('#pair-status'), err.message, 'error');
  }
  await refreshStatus();
  await loadSettings();
});

$('#pair-button').addEventListener('click', async () => {
  const code = $('#pair-code').value;
  say($('#pair-status'), 'Pairing…', 'busy');
  try {
    await sendMessage('pair', { code });
    say($('#pair-status'), 'Paired. The extension can now reach the daemon.', 'ok');
    $('#pair-code').value = '';
  } catch (err) {
    say($('#pair-status'), `Not paired: ${err.message}`, 'error');
  }
  await refreshStatus();
  await loadSettings();
});

$('#unpair-button').addEventListener('click', async () => {
  const r = await sendMessage('unpair');
  say($('#pair-status'), r.revoked ? 'Unpaired; the daemon revoked the token.' : 'Unpaired here (the daemon was not reached).', 'ok');
  await refreshStatus();
});

// ---- 2. enrol ---------------------------------------------------------

async function drawPreview(file, detection) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 480 / bitmap.width, 360 / bitmap.height);
  const canvas = $('#preview');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  // detect answers in the upright photo's pixels; createImageBitmap applies EXIF orientation too
  const sx = canvas.width / (detection.width || bitmap.width);
  const sy = canvas.height / (detection.height || bitmap.height);
  ctx.lineWidth = 3;
  for (const face of detection.faces || []) {
    const [x0, y0, x1, y1] = face.box;
    ctx.strokeStyle = '#22c55e';
    ctx.strokeRect(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
    ctx.fillStyle = '#f43f5e';
    for (const [x, y] of face.landmarks || []) {
      ctx.beginPath();
      ctx.arc(x * sx, y * sy, 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  canvas.hidden = false;
}

$('#selfie').addEventListener('change', async () => {
  const file = $('#selfie').files[0];
  selfieB64 = null;
  $('#enrol-button').disabled = true;
  $('#preview').hidden = true;
  if (!file) return;
  say($('#detect-status'), 'Looking for your face…', 'busy');
  try {
    const data = await fileToBase64(file);
    const detection = await sendMessage('detect', { data });
    await drawPreview(file, detection);
    const n = (detection.faces || []).length;
    if (n === 1) {
      selfieB64 = data;
      $('#enrol-button').disabled = false;
      say($('#detect-status'), 'One face found (green box). Enrol when ready.', 'ok');
    } else {
      say($('#detect-status'), n === 0 ? 'No face found: choose another photo.' : `${n} faces found: choose a photo with only you in it.`, 'error');
    }
  } catch (err) {
    say($('#detect-status'), err.message, 'error');
  }
});

function renderJob(job) {
  if (!job) return;
  $('#enrol-progress').value = Math.max(0, Math.min(100, job.percent || 0));
  const eta = job.eta_s ? ` · about ${Math.ceil(job.eta_s)} s left` : '';
  const node = $('#enrol-status');
  node.dataset.state = job.state;
  if (job.state === 'done') say(node, `Done: profile "${job.profile}" is ready. Photos on enabled sites will now be cloaked.`, 'ok');
  else if (job.state === 'failed') say(node, `Enrolment failed: ${job.error || job.message}`, 'error');
  else if (job.state === 'cancelled') say(node, 'Enrolment cancelled.', 'error');
  else say(node, `${job.stage || job.state}: ${job.message || ''}${eta}`, 'busy');
}

async function watchJob(id) {
  currentJob = id;
  $('#progress-box').hidden = false;
  $('#cancel-button').hidden = false;
  let version = 0;
  for (;;) {
    let snap;
    try {
      snap = await sendMessage('job.next', { id, version });
    } catch (err) {
      say($('#enrol-status'), err.message, 'error');
      break;
    }
    version = snap.version;
    renderJob(snap.job);
    if (snap.final) {
      if (snap.job && snap.job.state === 'done') await adoptProfile(snap.job.profile);
      break;
    }
    if (snap.error) {
      say($('#enrol-status'), `Lost the daemon: ${snap.error.message}`, 'error');
      break;
    }
  }
  $('#cancel-button').hidden = true;
  $('#enrol-button').disabled = !selfieB64;
  currentJob = null;
  await refreshStatus();
}

/** With no active profile set, the one just enrolled becomes it (with two profiles the daemon would not guess). */
async function adoptProfile(profile) {
  try {
    const { settings } = await sendMessage('settings.get');
    if (settings && !settings.active_profile && profile) await sendMessage('settings.put', { change: { active_profile: profile } });
  } catch {
    // not essential: the daemon uses the only profile when there is one
  }
}

$('#enrol-button').addEventListener('click', async () => {
  if (!selfieB64) return;
  $('#enrol-button').disabled = true;
  const args = { data: selfieB64, strength: $('#strength').value || undefined };
  const profile = $('#enrol-profile').value.trim();
  if (profile) args.profile = profile;
  for (const [key, sel] of [['k', '#enrol-k'], ['steps', '#enrol-steps']]) {
    const v = $(sel).value.trim();
    if (v) args[key] = Number(v);
  }
  $('#progress-box').hidden = false;
  say($('#enrol-status'), 'Starting…', 'busy');
  try {
    const { job } = await sendMessage('enrol', args);
    await watchJob(job);
  } catch (err) {
    say($('#enrol-status'), `Not started: ${err.message}`, 'error');
    $('#enrol-button').disabled = false;
  }
});

$('#cancel-button').addEventListener('click', async () => {
  if (currentJob) await sendMessage('job.cancel', { id: currentJob }).catch(() => {});
});

// ---- 3. test ----------------------------------------------------------

$('#test-photo').addEventListener('change', async () => {
  const file = $('#test-photo').files[0];
  if (!file) return;
  say($('#test-status'), 'Cloaking…', 'busy');
  $('#before-after').hidden = true;
  try {
    const res = await sendMessage('cloak.test', { name: file.name, type: file.type, data: await fileToBase64(file) });
    $('#before').src = URL.createObjectURL(file);
    $('#after').src = base64ToUrl(res.data, res.type);
    $('#after-caption').textContent = `Cloaked: ${res.cloaked} of ${res.found} face(s), ${res.ms} ms`;
    $('#before-after').hidden = false;
    say($('#test-status'), res.cloaked ? 'Look closely: the change is small on purpose.' : 'No face of yours in this photo: it comes back unmasked (GPS removed).', 'ok');
  } catch (err) {
    say($('#test-status'), err.message, 'error');
  }
});

// ---- 4. settings ------------------------------------------------------

async function put(change) {
  say($('#settings-status'), 'Saving…', 'busy');
  try {
    const { settings } = await sendMessage('settings.put', { change });
    render(settings, false);
    say($('#settings-status'), 'Saved.', 'ok');
  } catch (err) {
    say($('#settings-status'), `Not saved: ${err.message}`, 'error');
    await loadSettings();
  }
}

function render(settings, cached) {
  $('#strength').value = settings.strength || 'mid';
  $('#only-user').checked = settings.only_user !== false;
  $('#strip-gps').checked = settings.strip_gps !== false;
  const rows = Object.keys(settings.sites || {}).sort().map((host) => {
    const entry = settings.sites[host];
    return el('tr', { dataset: { site: host } },
      el('td', { text: host }),
      el('td', {}, el('input', {
        type: 'checkbox', class: 'site-enabled', checked: entry.enabled !== false, 'aria-label': `FaceCloak on ${host}`,
        onchange: (e) => put({ sites: { [host]: { enabled: e.target.checked, fail: entry.fail } } }),
      })),
      el('td', {}, el('select', {
        class: 'site-fail', 'aria-label': `When the daemon fails on ${host}`,
        onchange: (e) => put({ sites: { [host]: { enabled: entry.enabled !== false, fail: e.target.value } } }),
      }, el('option', { value: 'closed', text: 'block (closed)', selected: entry.fail !== 'open' }),
      el('option', { value: 'open', text: 'send original (open)', selected: entry.fail === 'open' }))),
      el('td', {}, el('button', { class: 'secondary', text: 'Remove', onclick: () => put({ sites: { [host]: null } }) })));
  });
  $('#sites').replaceChildren(...rows);
  for (const input of document.querySelectorAll('#settings select, #settings input')) input.disabled = cached;
  $('#add-site').disabled = cached;
}

async function loadSettings() {
  const r = await sendMessage('settings.get').catch((err) => ({ settings: null, error: { message: err.message } }));
  if (!r.settings) {
    say($('#settings-status'), 'Pair with the daemon to see and change the settings.', 'error');
    return;
  }
  render(r.settings, Boolean(r.error));
  say($('#settings-status'), r.error ? `The daemon is not reachable (${r.error.message}): showing the saved settings, read-only.` : '', r.error ? 'error' : '');
  document.body.dataset.settings = '1';
}

$('#strength').addEventListener('change', (e) => put({ strength: e.target.value }));
$('#only-user').addEventListener('change', (e) => put({ only_user: e.target.checked }));
$('#strip-gps').addEventListener('change', (e) => put({ strip_gps: e.target.checked }));
$('#add-site').addEventListener('click', async () => {
  const key = siteKeyFromInput($('#new-site').value);
  if (!key) {
    say($('#settings-status'), 'That is not a host name (like example.com).', 'error');
    return;
  }
  await put({ sites: { [key]: { enabled: true, fail: 'closed' } } });
  $('#new-site').value = '';
});

// Firefox asks the user for host access: offer it when it is missing.
async function checkPermissions() {
  const wanted = { origins: ['http://127.0.0.1/*', 'http://*/*', 'https://*/*'] };
  if (!api.permissions || (await api.permissions.contains(wanted))) return;
  const b = el('button', { text: 'Allow FaceCloak on web pages and the daemon', onclick: () => api.permissions.request(wanted).then(() => location.reload()) });
  $('#connect').prepend(el('p', { class: 'status', dataset: { kind: 'error' } }, 'FaceCloak needs access to web pages (to swap photos) and to 127.0.0.1 (its daemon). ', b));
}

await checkPermissions().catch(() => {});
await refreshStatus();
await loadSettings();
document.body.dataset.ready = '1';
