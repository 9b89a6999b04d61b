"""What happens to a cloaked photo between the user and a face-search engine.

The user uploads the cloaked photo as a JPEG at quality 95 without chroma
subsampling (`upload`); a social site may then shrink it to 1080 px on the
long side and re-encode it at quality 75 with 4:2:0 chroma (`social`). Each
variant of the privacy benchmark is one such path, applied to the probe as
uploaded:

    uploaded             the upload itself (the headline)
    jpeg75               re-encoded at quality 75
    resize1080           shrunk to 1080 px long side if larger (a no-op on
                         LFW's 250 px photos)
    resize1080+jpeg75    both
    phone-x5             the clean probe first enlarged 5x (bicubic, 1250 px:
                         a stand-in for a phone photo), cloaked at that size,
                         uploaded
    phone-x5-social      phone-x5, then shrunk to 1080 px and re-encoded at 75

All images are (H, W, 3) uint8 RGB; JPEG goes through Pillow both ways.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from ..faces import load_image

UPLOAD_QUALITY = 95
SOCIAL_QUALITY = 75
SOCIAL_LONG_SIDE = 1080
PHONE_FACTOR = 5

VARIANTS = ("uploaded", "jpeg75", "resize1080", "resize1080+jpeg75", "phone-x5", "phone-x5-social")
#: Variants that start from the enlarged probe (the photo is cloaked at that size).
PHONE_VARIANTS = ("phone-x5", "phone-x5-social")


def encode_jpeg(rgb: np.ndarray, quality: int, subsampling: int) -> bytes:
    """JPEG bytes; subsampling: 0 = 4:4:4, 2 = 4:2:0 (Pillow's codes)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=subsampling)
    return buf.getvalue()


def jpeg(rgb: np.ndarray, quality: int, subsampling: int) -> np.ndarray:
    """Encode and decode again."""
    return load_image(encode_jpeg(rgb, quality, subsampling))


def upload(rgb: np.ndarray) -> np.ndarray:
    """The photo as the user uploads it: JPEG q95, 4:4:4."""
    return jpeg(rgb, UPLOAD_QUALITY, 0)


def shrink_to(rgb: np.ndarray, long_side: int = SOCIAL_LONG_SIDE) -> np.ndarray:
    """Area-resample so the long side is at most ``long_side``; the same array when already smaller."""
    h, w = rgb.shape[:2]
    if max(h, w) <= long_side:
        return rgb
    f = long_side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def enlarge(rgb: np.ndarray, factor: int = PHONE_FACTOR) -> np.ndarray:
    """Bicubic enlargement, the phone-photo stand-in."""
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (w * factor, h * factor), interpolation=cv2.INTER_CUBIC)


def social(rgb: np.ndarray) -> np.ndarray:
    """What a social site does: shrink to 1080 px, then JPEG q75 4:2:0."""
    return jpeg(shrink_to(rgb), SOCIAL_QUALITY, 2)


def variant_images(uploaded: np.ndarray, phone_uploaded: np.ndarray | None, variants: tuple[str, ...]
                   ) -> dict[str, np.ndarray]:
    """Each requested variant's image, from the uploaded probe (and the uploaded phone-size probe)."""
    out = {}
    for name in variants:
        if name == "uploaded":
            out[name] = uploaded
        elif name == "jpeg75":
            out[name] = jpeg(uploaded, SOCIAL_QUALITY, 2)
        elif name == "resize1080":
            out[name] = shrink_to(uploaded)
        elif name == "resize1080+jpeg75":
            out[name] = social(uploaded)
        elif name == "phone-x5":
            out[name] = phone_uploaded
        elif name == "phone-x5-social":
            out[name] = social(phone_uploaded)
        else:
            raise ValueError(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    return out
