"""Chromium with the extension loaded unpacked, in a profile of its own (Playwright, sync API)."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
EXTENSION_DIR = Path(__file__).resolve().parents[2] / "extension"


class Browser:
    """A Chromium with the extension loaded unpacked, in a persistent profile of its own."""

    def __init__(self, playwright, user_dir: Path):
        args = [f"--disable-extensions-except={EXTENSION_DIR}", f"--load-extension={EXTENSION_DIR}", "--no-sandbox",
                "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run"]
        self.context = playwright.chromium.launch_persistent_context(
            str(user_dir), executable_path=str(CHROMIUM), headless=True, args=args,
            viewport={"width": 1100, "height": 900})
        workers = self.context.service_workers or [self.context.wait_for_event("serviceworker", timeout=30000)]
        self.extension_id = workers[0].url.split("/")[2]

    def url(self, path: str) -> str:
        return f"chrome-extension://{self.extension_id}/{path}"

    def options(self):
        page = self.context.new_page()
        page.goto(self.url("pages/options.html"))
        page.wait_for_selector("body[data-ready='1']")
        return page

    def pair(self, daemon) -> None:
        """Point the extension at the test daemon's port and pair it, through the options page."""
        page = self.options()
        page.click("summary:has-text('Daemon port')")
        page.fill("#port", str(daemon.port))
        page.click("#save-port")
        page.wait_for_selector("#pair-status:has-text('Daemon port set')")
        page.fill("#pair-code", daemon.pairing_code())
        page.click("#pair-button")
        page.wait_for_selector("#pair-status:has-text('Paired.')", timeout=15000)
        page.close()

    def close(self) -> None:
        self.context.close()
