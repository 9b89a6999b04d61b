"""The options page's enrolment wizard and the popup, driven end to end in a fresh browser profile.

Pair with the code the daemon wrote to its file, choose a selfie and see the
detected face, enrol and watch the progress reach done, cloak a test photo
(before/after), then use the popup's switch for a site. Screenshots of the
options page and the popup go to tests/extension/artifacts/.
"""

from __future__ import annotations

import base64
import time

import pytest

from ext_browser import Browser
from ext_checks import assert_cloaked

from facecloak.paths import lookalike_pool_path


@pytest.fixture
def fresh_browser(playwright_instance, daemon, tmp_path):
    b = Browser(playwright_instance, tmp_path / "profile")
    yield b
    b.close()


def test_wizard_pairs_enrols_and_shows_before_after(fresh_browser, daemon, selfie, photo, artifacts):
    b = fresh_browser
    page = b.options()
    assert page.get_attribute("body", "data-paired") == "0"

    # 1. connect: the daemon's port, then the pairing code from its file
    page.click("summary:has-text('Daemon port')")
    page.fill("#port", str(daemon.port))
    page.click("#save-port")
    page.wait_for_selector("#daemon-text:has-text('The daemon is running')")
    page.fill("#pair-code", "ABCD-EFGH")
    page.click("#pair-button")
    page.wait_for_selector("#pair-status:has-text('Not paired')")
    page.fill("#pair-code", daemon.pairing_code().lower())
    page.click("#pair-button")
    page.wait_for_selector("#pair-status:has-text('Paired.')", timeout=15000)
    page.wait_for_selector("body[data-paired='1']")
    page.wait_for_selector("#sites tr[data-site='127.0.0.1']")
    # the hint to build a look-alike pool shows while the daemon (sharing this model cache) has none
    assert page.is_visible("#lookalike-hint") is not lookalike_pool_path().is_file()

    # 2. the selfie, its detected face drawn on the preview
    with page.expect_file_chooser() as chooser:
        page.click("#selfie")
    chooser.value.set_files(selfie)
    page.wait_for_selector("#detect-status:has-text('One face found')", timeout=30000)
    assert page.is_visible("#preview")
    green = page.evaluate("""() => {
        const c = document.getElementById('preview');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 180 && d[i] < 80 && d[i + 2] < 140) n++;
        return n;
    }""")
    assert green > 50, "the face box is drawn on the preview"

    # quick enrolment settings for the test: strength low (a setting), k and steps (advanced)
    page.select_option("#strength", "low")
    page.wait_for_selector("#settings-status:has-text('Saved')")
    page.click("summary:has-text('Advanced')")
    page.fill("#enrol-k", "2")
    page.fill("#enrol-steps", "20")
    page.click("#enrol-button")

    seen = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = page.get_attribute("#enrol-status", "data-state")
        value = float(page.eval_on_selector("#enrol-progress", "p => p.value"))
        if not seen or seen[-1] != (state, value):
            seen.append((state, value))
        if state in ("done", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert seen[-1] == ("done", 100.0), seen
    assert any(s in ("queued", "running") and v < 100 for s, v in seen), f"progress was shown on the way: {seen}"
    assert len({v for _, v in seen}) >= 3, f"the bar moved: {seen}"
    assert "profile \"me\" is ready" in page.inner_text("#enrol-status")

    # 3. before/after of a test photo
    with page.expect_file_chooser() as chooser:
        page.click("#test-photo")
    chooser.value.set_files(photo)
    page.wait_for_selector("#before-after:not([hidden])", timeout=30000)
    page.wait_for_function("() => document.getElementById('after').naturalWidth > 0")
    assert page.inner_text("#after-caption").startswith("Cloaked: 1 of 1 face")
    after = base64.b64decode(page.evaluate("""async () => {
        const blob = await (await fetch(document.getElementById('after').src)).blob();
        const bytes = new Uint8Array(await blob.arrayBuffer());
        let s = '';
        for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return btoa(s);
    }"""))
    original = photo.read_bytes()
    assert_cloaked(original, after, daemon.faces(original))
    page.screenshot(path=str(artifacts / "options.png"), full_page=True)

    # the daemon saw this enrolment: status from its own API
    status = daemon.json("GET", "/v1/status")
    assert "me" in status["profiles"] and status["enrolling"] is None
    page.close()


def test_popup_shows_status_and_toggles_the_site(browser, daemon, page, artifacts):
    page.goto(browser.url("pages/popup.html?host=www.127-example.test"))  # not a site: shows off
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("#site-label") == "off"

    page.goto(browser.url("pages/popup.html?host=127.0.0.1"))
    page.wait_for_selector("body[data-ready='1']")
    assert "paired" in page.inner_text("#daemon-text")
    assert "Profile: me" in page.inner_text("#daemon-detail")
    assert page.is_checked("#site-toggle")
    page.set_viewport_size({"width": 360, "height": 420})
    page.screenshot(path=str(artifacts / "popup.png"))

    page.click("#site-toggle")
    page.wait_for_selector("#site-label:has-text('off')")
    page.wait_for_selector("#site-toggle:not([disabled])")
    assert daemon.json("GET", "/v1/settings")["sites"]["127.0.0.1"] == {"enabled": False, "fail": "closed"}
    page.click("#site-toggle")
    page.wait_for_selector("#site-label:has-text('on')")
    page.wait_for_selector("#site-toggle:not([disabled])")
    assert daemon.json("GET", "/v1/settings")["sites"]["127.0.0.1"] == {"enabled": True, "fail": "closed"}
