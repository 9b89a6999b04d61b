"""Photos uploaded through the fixture sites reach them cloaked (enabled) or untouched (disabled).

Each test drives a real user action in Chromium (file chooser, a drag with
files, Ctrl+V), lets the page's own code read and upload what it got, and
checks the bytes the fixture server received against the original photo.
"""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from ext_checks import assert_cloaked, choose, open_page, pixels, wait_notice

ENABLED = "127.0.0.1"
DISABLED = "localhost"


def test_reader_page_gets_the_cloaked_photo(page, site, daemon, photo, tmp_path):
    """(1) The page's own change handler reads the file with FileReader: it only ever sees the cloaked one."""
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"not a photo\n" * 10)
    open_page(page, site, ENABLED, "reader")
    choose(page, "#file", [photo, notes])
    uploads = site.wait_uploads(2)
    by_name = {u.name: u for u in uploads}
    assert set(by_name) == {photo.name, notes.name}, "same names for the page"
    got = by_name[photo.name]
    assert got.type == "image/jpeg"
    original = photo.read_bytes()
    assert got.data != original
    assert_cloaked(original, got.data, daemon.faces(original))
    assert by_name[notes.name].data == notes.read_bytes(), "a non-image file passes untouched"
    seen = page.evaluate("window.seen")
    assert sorted(s["name"] for s in seen) == sorted([photo.name, notes.name])
    assert next(s for s in seen if s["name"] == photo.name)["size"] == len(got.data)
    assert page.evaluate("document.getElementById('file').files.length") == 2, "the input holds the cloaked selection"
    assert "cloaked your photo: 1 face" in wait_notice(page, "cloaked")


@pytest.mark.parametrize("button", ["#pick", "#picker"], ids=["click", "showPicker"])
def test_detached_input_gets_the_cloaked_photo(page, site, daemon, photo, button):
    """(2) An input that is never in the document, opened with click() or showPicker()."""
    open_page(page, site, ENABLED, "detached")
    choose(page, button, [photo])
    (got,) = site.wait_uploads(1)
    assert got.name == photo.name and got.type == "image/jpeg"
    assert got.how == ("detached-click" if button == "#pick" else "detached-showPicker")
    original = photo.read_bytes()
    assert_cloaked(original, got.data, daemon.faces(original))


@pytest.mark.parametrize("which", ["open", "closed"])
def test_input_in_a_shadow_root_gets_the_cloaked_photo(page, site, daemon, photo, which):
    """Inputs inside open and closed shadow roots (the closed one's change listener is inside the root)."""
    open_page(page, site, ENABLED, "shadow")
    choose(page, f"#pick-{which}", [photo])
    (got,) = site.wait_uploads(1)
    assert got.how == f"shadow-{which}"
    original = photo.read_bytes()
    assert_cloaked(original, got.data, daemon.faces(original))


def test_drop_zone_gets_the_cloaked_photo(page, site, daemon, photo, browser):
    """(3) A drag from outside the browser with a photo, dropped on the page's zone."""
    open_page(page, site, ENABLED, "drop")
    box = page.locator("#zone").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    cdp = browser.context.new_cdp_session(page)
    data = {"items": [], "files": [str(photo)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
    (got,) = site.wait_uploads(1)
    assert got.how == "drop" and got.name == photo.name and got.type == "image/jpeg"
    original = photo.read_bytes()
    assert_cloaked(original, got.data, daemon.faces(original))


def test_paste_target_gets_the_cloaked_photo(page, site, daemon, photo, browser):
    """(4) A photo on the clipboard, pasted with Ctrl+V into the page's paste target."""
    # The clipboard carries images as PNG: put the photo there as PNG, and compare with that.
    buf = io.BytesIO()
    Image.open(photo).convert("RGB").save(buf, "PNG")
    png = buf.getvalue()
    open_page(page, site, ENABLED, "paste")
    browser.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://{ENABLED}:{site.port}")
    page.click("#target")
    page.evaluate("""async (b64) => {
        const blob = await (await fetch('data:image/png;base64,' + b64)).blob();
        await navigator.clipboard.write([new ClipboardItem({'image/png': blob})]);
    }""", base64.b64encode(png).decode())
    page.keyboard.press("Control+V")
    (got,) = site.wait_uploads(1)
    assert got.how == "paste" and got.type == "image/png"
    assert pixels(got.data).shape == pixels(png).shape
    assert_cloaked(png, got.data, daemon.faces(png))


def test_disabled_site_gets_the_original_bytes(page, site, photo, tmp_path):
    """(5) The same reader page on a host that is not enabled: the extension stays out of the way."""
    open_page(page, site, DISABLED, "reader")
    choose(page, "#file", [photo])
    (got,) = site.wait_uploads(1)
    assert got.host == DISABLED
    assert got.data == photo.read_bytes(), "a disabled site receives the original bytes"
    assert page.evaluate("document.querySelectorAll('facecloak-notice').length") == 0


def test_disabled_site_drop_is_untouched(page, site, photo, browser):
    open_page(page, site, DISABLED, "drop")
    box = page.locator("#zone").bounding_box()
    cdp = browser.context.new_cdp_session(page)
    data = {"items": [], "files": [str(photo)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": box["x"] + 50, "y": box["y"] + 50, "data": data})
    (got,) = site.wait_uploads(1)
    assert got.data == photo.read_bytes()


def test_form_submitted_by_the_browser_carries_the_cloaked_photo(page, site, daemon, photo):
    """No script reads the file: the browser's own form submission sends what the input holds."""
    open_page(page, site, ENABLED, "form")
    choose(page, "#file", [photo])
    wait_notice(page, "cloaked your photo")
    page.click("#send")
    (got,) = site.wait_uploads(1)
    assert got.how == "form" and got.name == photo.name
    original = photo.read_bytes()
    assert_cloaked(original, got.data, daemon.faces(original))


def test_widget_from_another_host_inside_an_enabled_site_is_covered(page, site, daemon, photo):
    """The frame's own host (localhost) is off, but its tab (127.0.0.1) is on: cloak."""
    open_page(page, site, ENABLED, "embed")
    frame = page.frame_locator("#widget")
    frame.locator("#file").wait_for()
    with page.expect_file_chooser() as chooser:
        frame.locator("#file").click()
    chooser.value.set_files(photo)
    (got,) = site.wait_uploads(1)
    assert got.host == DISABLED, "uploaded by the embedded frame"
    original = photo.read_bytes()
    assert_cloaked(original, got.data, daemon.faces(original))


def _png(path) -> bytes:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


def _copy_image(page, png: bytes) -> None:
    page.evaluate("""async (b64) => {
        const blob = await (await fetch('data:image/png;base64,' + b64)).blob();
        await navigator.clipboard.write([new ClipboardItem({'image/png': blob})]);
    }""", base64.b64encode(png).decode())


@pytest.mark.parametrize("host", [ENABLED, DISABLED])
def test_async_clipboard_images_are_refused_on_enabled_sites(page, site, browser, photo, host):
    """navigator.clipboard.read() would hand over the original: refused (with a notice) where FaceCloak is on."""
    open_page(page, site, host, "apis")
    browser.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://{host}:{site.port}")
    _copy_image(page, _png(photo))
    page.click("#clip")
    page.wait_for_function("() => window.results.length > 0")
    (what, outcome, detail) = page.evaluate("window.results[0]")
    if host == ENABLED:
        assert (what, outcome) == ("clipboard", "NotAllowedError") and "FaceCloak" in detail
        assert "Paste it with Ctrl+V" in wait_notice(page, "clipboard")
    else:
        assert (what, outcome) == ("clipboard", "ok") and int(detail) > 0, "disabled sites read the clipboard as usual"


def test_file_system_access_picker_is_refused_on_enabled_sites(page, site):
    """showOpenFilePicker() hands over the original file: refused where FaceCloak is on."""
    open_page(page, site, ENABLED, "apis")
    page.click("#picker")
    page.wait_for_function("() => window.results.length > 0")
    what, outcome, detail = page.evaluate("window.results[0]")
    assert (what, outcome) == ("picker", "NotAllowedError") and "FaceCloak" in detail
    assert "file picker" in wait_notice(page, "file picker")
