"""End-to-end fixtures: the real daemon, Debian's Chromium with the unpacked extension, fixture sites.

Nothing is stubbed: `facecloak serve` runs as a subprocess on a free port
(its files in a temporary folder, models from the normal cache), Chromium
loads extension/ unpacked, and the fixture pages are served on loopback.
Site settings for every test (set through the daemon's own API):
    127.0.0.1  enabled, fail closed
    127.0.0.2  enabled, fail open
    localhost  disabled
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from facecloak.paths import shared_dir
from facecloak.server.local import DaemonProcess, free_port
from ext_browser import CHROMIUM, Browser
from fixture_site import FixtureSite

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SITES = {
    "127.0.0.1": {"enabled": True, "fail": "closed"},
    "127.0.0.2": {"enabled": True, "fail": "open"},
    "localhost": {"enabled": False, "fail": "closed"},
}
ENROL_QUERY = "profile=me&strength=low&k=2&steps=20"  # quick settings for tests


@pytest.fixture(scope="session")
def photos() -> Path:
    root = shared_dir()
    if root is None or not (root / "data" / "photos" / "portrait" / "stock-emotions-a").is_dir():
        pytest.skip("../shared (real face photos) not found: the extension tests upload real photos")
    return root / "data" / "photos"


@pytest.fixture(scope="session")
def selfie(photos) -> Path:
    return photos / "portrait" / "stock-emotions-a" / "stock-emotions-a-1.jpg"


@pytest.fixture(scope="session")
def photo(photos) -> Path:
    """Another photo of the enrolled person: the one the pages upload."""
    return photos / "portrait" / "stock-emotions-a" / "stock-emotions-a-3.jpg"


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run the extension tests")
    return CHROMIUM


@dataclass
class Daemon:
    """The real daemon and a token of the tests' own (not the extension's)."""

    proc: DaemonProcess
    token: str

    @property
    def port(self) -> int:
        return self.proc.port

    def json(self, method: str, path: str, body=None):
        status, data = self.proc.json(method, path, body, token=self.token)
        assert 200 <= status < 300, (method, path, status, data)
        return data

    def faces(self, image: bytes) -> list[dict]:
        return self.json("POST", "/v1/detect", image)["faces"]

    def pairing_code(self) -> str:
        return self.proc.pairing_code()

    def stop(self) -> None:
        self.proc.stop()

    def start(self) -> None:
        self.proc.start()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory, photos, selfie, chromium):
    proc = DaemonProcess(tmp_path_factory.mktemp("facecloak-daemon"))
    with proc:
        d = Daemon(proc, proc.pair("extension-tests"))
        d.json("PUT", "/v1/settings", {"sites": SITES})
        job = d.json("POST", f"/v1/enrol?{ENROL_QUERY}", selfie.read_bytes())["job"]
        done = proc.wait_job(job, d.token, timeout=300)
        assert done["state"] == "done", done
        yield d


@pytest.fixture(scope="session")
def site():
    with FixtureSite(free_port()) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean_site(request):
    if "site" in request.fixturenames:
        request.getfixturevalue("site").clear()


@pytest.fixture(scope="session")
def playwright_instance(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance, daemon, tmp_path_factory):
    """The extension, paired with the test daemon (which has a profile and the test sites)."""
    b = Browser(playwright_instance, tmp_path_factory.mktemp("chromium-profile"))
    try:
        b.pair(daemon)
        yield b
    finally:
        b.close()


@pytest.fixture
def page(browser):
    p = browser.context.new_page()
    yield p
    p.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
