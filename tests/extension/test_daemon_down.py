"""When the daemon cannot cloak: an enabled fail-closed site blocks the upload, a fail-open one is told.

The extension still knows which sites are enabled while the daemon is down
(settings cached in chrome.storage.local). The daemon is stopped for these
tests and started again (same port, same files) before they end.
"""

from __future__ import annotations

import time

import pytest

from ext_checks import assert_cloaked, choose, notice_text, open_page, wait_notice


@pytest.fixture
def daemon_down(daemon, browser):
    daemon.stop()
    try:
        yield daemon
    finally:
        if daemon.proc.proc is None:
            daemon.start()


def test_blocked_with_a_message_then_retry_sends_the_cloaked_photo(page, site, daemon_down, photo, artifacts):
    daemon = daemon_down
    open_page(page, site, "127.0.0.1", "reader")
    choose(page, "#file", [photo])
    text = wait_notice(page, "blocked this upload")
    assert "not running" in text and "The site did not receive" in text
    page.screenshot(path=str(artifacts / "blocked.png"))
    time.sleep(1.5)
    assert site.snapshot() == [], "nothing reached the site"
    assert page.evaluate("window.seen") == [], "the page's own code saw no file"
    assert page.evaluate("document.getElementById('file').files.length") == 0, "the input holds nothing to submit"

    daemon.start()
    page.locator("facecloak-notice button:has-text('Retry')").click()
    (got,) = site.wait_uploads(1)
    original = photo.read_bytes()
    assert got.name == photo.name
    assert_cloaked(original, got.data, daemon.faces(original))
    assert "cloaked your photo" in wait_notice(page, "cloaked your photo")


def test_fail_open_site_gets_the_original_after_telling_the_user(page, site, daemon_down, photo):
    open_page(page, site, "127.0.0.2", "reader")
    choose(page, "#file", [photo])
    (got,) = site.wait_uploads(1)
    assert got.host == "127.0.0.2"
    assert got.data == photo.read_bytes(), "fail open: the original goes through"
    text = wait_notice(page, "could not cloak")
    assert "original photo was used" in text


def test_retry_cannot_be_pressed_by_page_script(page, site, daemon_down, photo):
    """The notice's buttons answer trusted clicks only: the page cannot retry (or dismiss) for the user."""
    daemon = daemon_down
    open_page(page, site, "127.0.0.1", "detached")
    choose(page, "#pick", [photo])
    wait_notice(page, "blocked this upload")
    daemon.start()
    page.evaluate("""() => document.querySelector('facecloak-notice').shadowRoot
        .querySelectorAll('button').forEach(b => b.click())""")
    time.sleep(2)
    assert site.snapshot() == []
    assert "blocked this upload" in notice_text(page)
