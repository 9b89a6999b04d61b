"""Decode untrusted image bytes into RGB pixels, safely.

Every failure is a domain error with a message a user can act on:
`ImageDecodeError` (empty, truncated, corrupt, not an image, unsupported
format) or `ImageTooLargeError` (more pixels than the cap). The pixel cap is
checked on the header size, before any pixel is decoded, so a 100000x100000
PNG costs nothing. Pillow's own decompression-bomb guard is left in place
(its global `Image.MAX_IMAGE_PIXELS` is not touched) and also maps to
`ImageTooLargeError`.
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageDecodeError, ImageTooLargeError

DEFAULT_MAX_PIXELS = 100_000_000

#: Formats we decode. Others (EPS, which runs Ghostscript; PSD; ...) are
#: refused: this function reads untrusted uploads. "JPEG" also opens MPO,
#: the multi-frame JPEG that many phones write.
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")

# What Pillow raises on corrupt or truncated data, besides its own classes.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


@dataclass(frozen=True)
class ImageInfo:
    """What the decoder learnt about the file, for the encoder to keep.

    format: Pillow's name ("JPEG", "PNG", "WEBP", ...; "MPO" is reported as
        "JPEG"). size: (width, height) after EXIF orientation. mode: the file's
        own pixel mode before conversion ("RGBA", "CMYK", "I;16", ...).
    orientation: the EXIF orientation tag that was applied (1 = none).
    icc_profile, exif: raw bytes to carry into the output (EXIF with the
        orientation already reset), or None.
    has_alpha: the file has transparency (dropped from the returned pixels).
    """

    format: str
    size: tuple[int, int]
    mode: str
    orientation: int
    icc_profile: bytes | None
    exif: bytes | None
    has_alpha: bool


def load_image(src: bytes | str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode `src` (file bytes or a path) into RGB pixels.

    Returns:
        (H, W, 3) uint8, C-contiguous, writable, RGB order, EXIF orientation
        applied. Alpha is dropped (not composited); palette, grey, CMYK and
        16-bit images are converted (16-bit scaled to 8 bits). Colours are
        left as stored: an ICC profile is reported in `ImageInfo`, not applied.
    Raises:
        ImageDecodeError: empty, unreadable, truncated, corrupt or
            unsupported input. ImageTooLargeError: width*height > max_pixels.
    """
    return load_image_with_info(src, max_pixels)[0]


def load_image_with_info(
    src: bytes | str | Path, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, ImageInfo]:
    """`load_image`, plus an `ImageInfo` describing the file."""
    return load_rgb(*open_image(src, max_pixels), max_pixels)


def load_rgb(img: Image.Image, what: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, ImageInfo]:
    """Decode an `open_image` image: `load_image_with_info` without opening the file again."""
    with _decoding(what, max_pixels):
        img.load()
        return _to_rgb(img)


def open_image(src: bytes | str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Image.Image, str]:
    """Open `src` and read its header only: (the Pillow image, a description for messages).

    Raises what `load_image` raises for the header (unreadable, unaccepted
    format, more than `max_pixels`); `load_upright` decodes the pixels.
    """
    data, what = _read_bytes(src)
    # Pillow warns (DecompressionBombWarning, "Corrupt EXIF data", palette
    # transparency) where we either raise or do not care; keep them quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            img = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except Image.DecompressionBombError as exc:
            raise _bomb_error(what, exc, max_pixels) from None
        except UnidentifiedImageError:
            raise ImageDecodeError(
                f"{what} is not an image we can read "
                f"(accepted formats: {', '.join(ACCEPTED_FORMATS)})"
            ) from None
        except _DECODE_ERRORS + (KeyError, TypeError) as exc:
            raise ImageDecodeError(f"{what} has a corrupt image header ({exc})") from None
    width, height = img.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{what} is {width}x{height} = {width * height / 1e6:.1f} megapixels; "
            f"the limit is {max_pixels / 1e6:.1f} megapixels"
        )
    return img, what


def load_upright(img: Image.Image, what: str, max_pixels: int = DEFAULT_MAX_PIXELS
                 ) -> tuple[Image.Image, ImageInfo]:
    """Decode an `open_image` image and turn it upright, staying a Pillow image.

    For the images whose pixels need no conversion (mode "RGB", no
    transparency): the cloak then copies only the faces' regions into numpy,
    not the whole photo. Raises ValueError for any other image (use
    `load_image_with_info`), and what `load_image` raises for bad data.
    """
    if img.mode != "RGB" or "transparency" in img.info:
        raise ValueError(f"load_upright needs an RGB image without transparency, got mode {img.mode}")
    with _decoding(what, max_pixels):
        img.load()
        return _orient(img)


@contextlib.contextmanager
def _decoding(what: str, max_pixels: int) -> Iterator[None]:
    """Pillow's decoding errors as ours, its warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        except Image.DecompressionBombError as exc:
            raise _bomb_error(what, exc, max_pixels) from None
        except _DECODE_ERRORS as exc:
            raise ImageDecodeError(
                f"{what} is truncated or corrupt ({type(exc).__name__}: {exc})"
            ) from None


def _bomb_error(what: str, exc: Exception, max_pixels: int) -> ImageTooLargeError:
    """Pillow's own guard fired (its cap is ~179 megapixels): say it our way."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    size = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
    return ImageTooLargeError(
        f"{what} has {size}, too large to decode safely; "
        f"the limit is {min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels)) / 1e6:.1f} megapixels"
    )


def _read_bytes(src: bytes | str | Path) -> tuple[bytes, str]:
    """The file's bytes and a short description of it for messages."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data, what = bytes(src), "the image data"
    else:
        path = Path(src)
        what = f"image file {str(path)!r}"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageDecodeError(f"cannot read {what}: {exc.strerror or exc}") from None
    if not data:
        raise ImageDecodeError(f"{what} is empty (0 bytes)")
    return data, what


def _orient(img: Image.Image) -> tuple[Image.Image, ImageInfo]:
    """Apply EXIF orientation (in place when there is one): (the upright image, its info)."""
    fmt = "JPEG" if img.format == "MPO" else str(img.format)
    mode = img.mode
    icc = img.info.get("icc_profile") or None
    try:
        orientation = int(img.getexif().get(0x0112, 1) or 1)
        ImageOps.exif_transpose(img, in_place=True)  # no copy when upright
    except _DECODE_ERRORS + (KeyError, TypeError):
        orientation = 1  # unreadable EXIF: show the pixels as stored
    exif = img.info.get("exif") or None
    has_alpha = img.mode in _ALPHA_MODES or "transparency" in img.info
    return img, ImageInfo(fmt, img.size, mode, orientation, icc, exif, has_alpha)


def _to_rgb(img: Image.Image) -> tuple[np.ndarray, ImageInfo]:
    """Apply EXIF orientation and convert any mode to (H, W, 3) uint8 RGB."""
    oriented, info = _orient(img)
    if oriented.mode in _WIDE_GREY_MODES:
        # 16-bit or float grey: Pillow's convert("RGB") would clip at 255.
        grey = np.asarray(oriented, dtype=np.float64)
        scale = 1.0 if oriented.mode == "F" else 1.0 / 257.0
        grey8 = np.clip(np.rint(grey * scale), 0, 255).astype(np.uint8)
        rgb = np.repeat(grey8[:, :, None], 3, axis=2)
    else:
        if oriented.mode in ("P", "PA"):
            oriented = oriented.convert("RGBA")  # honours palette transparency
        if oriented.mode != "RGB":
            oriented = oriented.convert("RGB")
        rgb = np.array(oriented, dtype=np.uint8)  # one copy: writable, C-contiguous
    return rgb, info
