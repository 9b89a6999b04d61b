// The small in-page notice (a shadow-DOM toast in the corner): "cloaked",
// "could not cloak, original used" (fail open), or "blocked" with Retry.
// It is not a security boundary (the page can remove it); its buttons only
// answer trusted clicks, so page script cannot press Retry for the user.

const STYLE = `
:host { all: initial; }
.stack { position: fixed; right: 16px; bottom: 16px; z-index: 2147483647; display: flex;
  flex-direction: column; gap: 8px; max-width: min(380px, calc(100vw - 32px));
  font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
.card { display: flex; gap: 10px; align-items: flex-start; padding: 10px 12px; border-radius: 10px;
  background: #1f2430; color: #f3f4f6; box-shadow: 0 4px 18px rgba(0,0,0,.28); }
.card[data-kind="blocked"] { background: #5b1a1a; }
.card[data-kind="warn"] { background: #5a4210; }
.icon { flex: none; width: 18px; height: 18px; border-radius: 50%; background: #34d399; margin-top: 1px; }
.card[data-kind="progress"] .icon { background: conic-gradient(#93c5fd 0 25%, transparent 0 100%); border: 2px solid #93c5fd55;
  width: 14px; height: 14px; animation: spin 1s linear infinite; }
.card[data-kind="blocked"] .icon { background: #f87171; }
.card[data-kind="warn"] .icon { background: #fbbf24; }
.body { flex: 1; }
.actions { display: flex; gap: 8px; margin-top: 8px; }
button { all: initial; font: inherit; cursor: pointer; padding: 3px 10px; border-radius: 6px;
  background: #f3f4f6; color: #111827; }
button + button { background: transparent; color: inherit; border: 1px solid #f3f4f688; }
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { .card .icon { animation: none !important; } }
`;

export function createNotices(doc, win) {
  let host = null;
  let stack = null;

  function ensure() {
    if (host && host.isConnected) return;
    host = doc.createElement('facecloak-notice');
    host.setAttribute('style', 'all: initial !important; position: fixed !important; z-index: 2147483647 !important;');
    const root = host.attachShadow({ mode: 'open' });
    const style = doc.createElement('style');
    style.textContent = STYLE;
    stack = doc.createElement('div');
    stack.className = 'stack';
    root.append(style, stack);
    (doc.body || doc.documentElement).append(host);
  }

  /** Show a card; returns {update(opts), close()}. opts: {kind, text, actions: [{label, run}], timeoutMs}. */
  function show(opts) {
    ensure();
    const card = doc.createElement('div');
    card.className = 'card';
    const icon = doc.createElement('div');
    icon.className = 'icon';
    const body = doc.createElement('div');
    body.className = 'body';
    const text = doc.createElement('div');
    text.className = 'text';
    const actions = doc.createElement('div');
    actions.className = 'actions';
    body.append(text, actions);
    card.append(icon, body);
    stack.append(card);
    let timer = null;

    const handle = {
      update({ kind, text: words, actions: buttons = [], timeoutMs = 0 }) {
        card.dataset.kind = kind;
        card.setAttribute('role', kind === 'blocked' || kind === 'warn' ? 'alert' : 'status');
        text.textContent = words;
        actions.replaceChildren();
        for (const { label, run } of buttons) {
          const b = doc.createElement('button');
          b.type = 'button';
          b.textContent = label;
          b.addEventListener('click', (e) => {
            if (e.isTrusted) run();
          });
          actions.append(b);
        }
        actions.hidden = buttons.length === 0;
        if (timer) win.clearTimeout(timer);
        timer = timeoutMs ? win.setTimeout(() => handle.close(), timeoutMs) : null;
        return handle;
      },
      close() {
        if (timer) win.clearTimeout(timer);
        card.remove();
      },
    };
    return handle.update(opts);
  }

  return { show };
}
