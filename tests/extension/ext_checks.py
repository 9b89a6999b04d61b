"""Checks on what a fixture site received, and the page actions the extension tests share."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

MAX_PIXEL_CHANGE = 40  # the budget check on a JPEG: low strength is 12/255 on stickers, plus JPEG noise


def pixels(data: bytes) -> np.ndarray:
    img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    return np.asarray(img.convert("RGB"), dtype=np.int16)


def assert_cloaked(original: bytes, received: bytes, faces: list[dict]) -> dict:
    """The received photo is the original with its face changed, within the budget."""
    a, b = pixels(original), pixels(received)
    assert a.shape == b.shape, f"size changed: {a.shape} -> {b.shape}"
    diff = np.abs(a - b)
    assert faces, "the daemon finds no face in the original"
    x0, y0, x1, y1 = (int(round(v)) for v in faces[0]["box"])
    face = diff[max(y0, 0):y1, max(x0, 0):x1]
    outside = diff.copy()
    outside[max(y0, 0):y1, max(x0, 0):x1] = 0
    stats = {"face_mean": float(face.mean()), "outside_mean": float(outside.sum() / max(1, outside.size - face.size)),
             "max": int(diff.max())}
    assert stats["face_mean"] > 1.0, f"the face region is unchanged: {stats}"
    assert stats["face_mean"] > 2 * stats["outside_mean"], f"the change is not on the face: {stats}"
    assert stats["max"] <= MAX_PIXEL_CHANGE, f"the change exceeds the budget: {stats}"
    return stats


def notice_text(page) -> str:
    """The text of FaceCloak's in-page notices (an open shadow root under <facecloak-notice>)."""
    return page.evaluate("""() => [...document.querySelectorAll('facecloak-notice')]
        .map(h => h.shadowRoot ? h.shadowRoot.textContent : '').join(' ')""")


def choose(page, button: str, files) -> None:
    with page.expect_file_chooser() as chooser:
        page.click(button)
    chooser.value.set_files(files)


def open_page(page, site, host: str, name: str):
    page.goto(site.url(host, name))
    page.wait_for_load_state("load")
    return page


def wait_notice(page, words: str, timeout: float = 30000) -> str:
    page.wait_for_function(
        """(words) => [...document.querySelectorAll('facecloak-notice')]
            .some(h => h.shadowRoot && h.shadowRoot.textContent.includes(words))""",
        arg=words, timeout=timeout)
    return notice_text(page)
