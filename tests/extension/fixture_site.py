"""Fixture pages that behave like social sites, served on loopback by aiohttp in a thread.

Every page uploads what its own code received (the bytes a site would get)
to POST /upload; the server keeps each upload: page, host, name, type, bytes.
The same pages are served on every address the server listens on, so one
host name can be an enabled site and another a disabled one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

# Shared by every page: upload(file, how) sends the bytes the page's code read.
COMMON_JS = r"""
window.seen = [];
async function upload(file, how, via) {
  const buf = await new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsArrayBuffer(file);
  });
  window.seen.push({how, name: file.name, type: file.type, size: buf.byteLength});
  if (via === 'form') {
    const form = new FormData();
    form.append('how', how);
    form.append('photo', file, file.name);
    await fetch('/upload', {method: 'POST', body: form});
  } else {
    await fetch('/upload', {method: 'POST', body: buf, headers: {
      'X-How': how, 'X-Name': encodeURIComponent(file.name), 'X-Type': file.type}});
  }
}
"""

PAGES = {
    # (1) a file input whose own change handler reads the files with FileReader and uploads them
    "reader": """
<h1>Reader</h1>
<input type="file" id="file" multiple>
<script>
file.addEventListener('change', (e) => { for (const f of file.files) upload(f, 'reader'); });
</script>""",
    # (2) an input never attached to the document, opened with click() or showPicker()
    "detached": """
<h1>Detached</h1>
<button id="pick">Add photo</button> <button id="picker">Add photo (showPicker)</button>
<script>
function detached(open) {
  const input = document.createElement('input');
  input.type = 'file';
  input.accept = 'image/*';
  input.onchange = () => { for (const f of input.files) upload(f, 'detached-' + open, 'form'); };
  input[open]();
}
pick.onclick = () => detached('click');
picker.onclick = () => detached('showPicker');
</script>""",
    # inputs inside shadow roots: open, and closed with its listener inside the root
    "shadow": """
<h1>Shadow</h1>
<div id="openhost"></div><div id="closedhost"></div>
<button id="pick-open">Photo (open root)</button> <button id="pick-closed">Photo (closed root)</button>
<script>
const openRoot = openhost.attachShadow({mode: 'open'});
openRoot.innerHTML = '<input type="file" id="in">';
openRoot.getElementById('in').addEventListener('change', (e) => upload(e.target.files[0], 'shadow-open'));
const closedRoot = closedhost.attachShadow({mode: 'closed'});
closedRoot.innerHTML = '<input type="file" id="in">';
const closedInput = closedRoot.getElementById('in');
closedRoot.addEventListener('change', (e) => upload(e.target.files[0], 'shadow-closed'));
document.getElementById('pick-open').onclick = () => openRoot.getElementById('in').click();
document.getElementById('pick-closed').onclick = () => closedInput.click();
</script>""",
    # (3) a drag-and-drop zone
    "drop": """
<h1>Drop</h1>
<div id="zone" style="width: 400px; height: 300px; border: 3px dashed #888">Drop photos here</div>
<script>
zone.addEventListener('dragover', (e) => e.preventDefault());
zone.addEventListener('drop', (e) => {
  e.preventDefault();
  for (const f of e.dataTransfer.files) upload(f, 'drop', 'form');
});
</script>""",
    # (4) a paste target
    "paste": """
<h1>Paste</h1>
<div id="target" contenteditable="true" style="width: 400px; height: 120px; border: 1px solid #888">Paste here</div>
<script>
target.addEventListener('paste', (e) => {
  const files = [...e.clipboardData.files];
  if (files.length) { e.preventDefault(); for (const f of files) upload(f, 'paste'); }
});
</script>""",
    # a plain form, submitted by the browser itself (no script reads the file)
    "form": """
<h1>Form</h1>
<form method="post" action="/upload" enctype="multipart/form-data">
  <input type="hidden" name="how" value="form"><input type="file" name="photo" id="file">
  <button id="send">Send</button>
</form>""",
    # an upload widget from another host (the frame's own host is not enabled; its tab's is)
    "embed": """
<h1>Embed</h1>
<iframe id="widget" style="width: 500px; height: 200px"></iframe>
<script>widget.src = location.protocol + '//localhost:' + location.port + '/reader.html';</script>""",
    # ways to read images that FaceCloak cannot swap: refused on enabled sites
    "apis": """
<h1>APIs</h1>
<button id="picker">Open with showOpenFilePicker</button> <button id="clip">Read the clipboard</button>
<script>
window.results = [];
const note = (what, p) => p.then((v) => results.push([what, 'ok', String(v)]),
                                 (e) => results.push([what, e.name, e.message]));
picker.onclick = () => note('picker', showOpenFilePicker().then((hs) => hs.length));
clip.onclick = () => note('clipboard', navigator.clipboard.read().then((items) =>
    items[0].getType(items[0].types.find((t) => t.startsWith('image/'))).then((b) => b.size)));
</script>""",
}


@dataclass
class Upload:
    page: str
    host: str
    how: str
    name: str
    type: str
    data: bytes


class FixtureSite:
    """The fixture pages on 127.0.0.1, 127.0.0.2 and (for "localhost") ::1, one port."""

    def __init__(self, port: int):
        self.port = port
        self.uploads: list[Upload] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fixture-site", daemon=True)
        self._runner: web.AppRunner | None = None

    def url(self, host: str, page: str) -> str:
        return f"http://{host}:{self.port}/{page}.html"

    # -- server ---------------------------------------------------------------
    async def _page(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in PAGES:
            raise web.HTTPNotFound()
        html = (f"<!doctype html><html><head><meta charset='utf-8'><title>{name}</title>"
                f"<script>{COMMON_JS}</script></head><body>{PAGES[name]}</body></html>")
        return web.Response(text=html, content_type="text/html")

    async def _upload(self, request: web.Request) -> web.Response:
        host = request.url.host or ""
        page = (request.headers.get("Referer") or "").rsplit("/", 1)[-1].removesuffix(".html")
        if request.content_type == "multipart/form-data":
            how, got = "", []
            async for part in await request.multipart():
                if part.name == "how":
                    how = (await part.text())
                elif part.filename is not None:
                    got.append((part.filename, part.headers.get("Content-Type", ""), bytes(await part.read())))
            for name, ctype, data in got:
                self._add(Upload(page, host, how, name, ctype, data))
        else:
            self._add(Upload(page, host, request.headers.get("X-How", ""), unquote(request.headers.get("X-Name", "")),
                             request.headers.get("X-Type", ""), await request.read()))
        return web.json_response({"ok": True})

    def _add(self, upload: Upload) -> None:
        with self._lock:
            self.uploads.append(upload)

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/{name}.html", self._page)
        app.router.add_post("/upload", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        for host in ("127.0.0.1", "127.0.0.2"):
            await web.TCPSite(self._runner, host, self.port).start()
        try:
            await web.TCPSite(self._runner, "::1", self.port).start()
        except OSError:
            pass  # no IPv6 loopback: "localhost" still reaches 127.0.0.1

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> FixtureSite:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    # -- what the tests read ----------------------------------------------------
    def clear(self) -> None:
        with self._lock:
            self.uploads.clear()

    def wait_uploads(self, count: int, timeout: float = 60.0) -> list[Upload]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.uploads) >= count:
                    return list(self.uploads)
            time.sleep(0.1)
        with self._lock:
            raise AssertionError(f"expected {count} upload(s) within {timeout} s, got {len(self.uploads)}: "
                                 f"{[(u.how, u.name) for u in self.uploads]}")

    def snapshot(self) -> list[Upload]:
        with self._lock:
            return list(self.uploads)
