"""Encode cloaked pixels in the input's own format, at full size and high quality.

The perturbation is a few pixel levels of fine detail, so the encoder must not
throw it away: JPEG is written at quality 95 with 4:4:4 chroma (subsampling
would halve the colour resolution the mask lives in), WebP at quality 95 or
lossless when the input was lossless, PNG losslessly (8-bit). A cloaked JPEG
taller than 512 rows that stayed a Pillow image is encoded in strips on both
threads (`pillow_path.cloak_and_encode`, `jpeg_strips`), so it carries a
restart marker after every row of 8x8 blocks (2 bytes a row, same pixels).

Metadata policy (`encode_like`):
    * ICC profile: kept when it describes RGB (a CMYK or grey profile would
      be wrong on the RGB pixels that `load_image` returns).
    * EXIF: kept, with the Orientation tag set to 1 (the decoder already
      turned the pixels upright) and, when ``strip_gps``, the GPS block
      removed. EXIF is rewritten from its tags, so the embedded thumbnail
      (IFD1: a small copy of the *uncloaked* photo) is dropped too.
    * Alpha: re-attached from the original file for PNG and WebP.
    * Not carried: XMP, IPTC, JPEG comments, PNG text chunks, extra MPO
      frames.
Inputs in other formats (GIF, BMP, TIFF) come out as PNG.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from PIL import Image, ImageOps

from ..faces.image_io import ImageInfo

JPEG_QUALITY = 95
WEBP_QUALITY = 95
#: zlib level for PNG: 1 is ~4x faster than Pillow's default 6 on a 12 MP
#: photo for ~10% larger files; photos barely compress better at 6.
PNG_COMPRESS_LEVEL = 1
OUTPUT_FORMATS = ("JPEG", "PNG", "WEBP")
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}

_ORIENTATION = 0x0112
_GPS_IFD = 0x8825


def output_format(input_format: str) -> str:
    """The format a cloaked photo is written in: the input's, or PNG."""
    return input_format if input_format in OUTPUT_FORMATS else "PNG"


def encode_like(
    rgb: np.ndarray, original: bytes, info: ImageInfo, *, strip_gps: bool = True
) -> tuple[bytes, str]:
    """Encode pixels the way the original file was stored.

    Args:
        rgb: (H, W, 3) uint8 RGB, the (cloaked) pixels of `original` after
            EXIF orientation, i.e. ``info.size == (W, H)``.
        original: the input file's bytes (read again only for alpha and to
            tell lossless WebP from lossy).
        info: what `load_image_with_info` said about `original`.
        strip_gps: drop the EXIF GPS block.
    Returns:
        (file bytes, format name: "JPEG", "PNG" or "WEBP").
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 \
            or (rgb.shape[1], rgb.shape[0]) != tuple(info.size):
        raise ValueError(f"expected ({info.size[1]}, {info.size[0]}, 3) uint8 pixels, "
                         f"got {rgb.dtype} {rgb.shape}")
    img = Image.fromarray(rgb, "RGB")
    if info.has_alpha and output_format(info.format) in ("PNG", "WEBP"):
        alpha = original_alpha(original)
        if alpha is not None and alpha.shape == rgb.shape[:2]:
            img = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    return _save(img, original, info, strip_gps)


def encode_image_like(
    img: Image.Image, original: bytes, info: ImageInfo, *, strip_gps: bool = True
) -> tuple[bytes, str]:
    """`encode_like` for pixels that are still a Pillow image (mode "RGB", upright, of an
    input without transparency): no copy of the photo into numpy and back."""
    if img.mode != "RGB" or img.size != tuple(info.size) or info.has_alpha:
        raise ValueError(f"expected an RGB image of {info.size} from an input without alpha, "
                         f"got {img.mode} {img.size}")
    return _save(img, original, info, strip_gps)


def _save(img: Image.Image, original: bytes, info: ImageInfo, strip_gps: bool) -> tuple[bytes, str]:
    fmt, params = save_params(original, info, strip_gps=strip_gps)
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue(), fmt


def save_params(original: bytes, info: ImageInfo, *, strip_gps: bool = True) -> tuple[str, dict]:
    """(output format, Pillow save options) for the cloaked pixels of `original`: the
    metadata and quality policy above."""
    fmt = output_format(info.format)
    params: dict = {}
    icc = rgb_icc_profile(info.icc_profile)
    if icc:
        params["icc_profile"] = icc
    exif = clean_exif(info.exif, strip_gps=strip_gps, reset_orientation=True)
    if exif:
        params["exif"] = exif
    if fmt == "JPEG":
        # comment: Pillow would otherwise write the decoded image's own COM text again
        params.update(quality=JPEG_QUALITY, subsampling=0, comment=b"")
    elif fmt == "WEBP":
        if webp_is_lossless(original):
            params.update(lossless=True)
        else:
            params.update(quality=WEBP_QUALITY)
    else:
        params.update(compress_level=PNG_COMPRESS_LEVEL)
    return fmt, params


def rgb_icc_profile(icc: bytes | None) -> bytes | None:
    """The ICC profile if it is for RGB data (header bytes 16..20 == b"RGB ")."""
    if icc and len(icc) >= 128 and icc[16:20] == b"RGB ":
        return icc
    return None


_EXIF_ERRORS = (OSError, SyntaxError, ValueError, KeyError, TypeError, struct.error)


def _read_exif(raw: bytes | None) -> Image.Exif | None:
    """Parsed EXIF, or None when there is none or Pillow cannot read it."""
    if not raw:
        return None
    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif.load(raw)
    except _EXIF_ERRORS:
        return None
    return exif


def clean_exif(raw: bytes | None, *, strip_gps: bool, reset_orientation: bool) -> bytes | None:
    """EXIF bytes (b"Exif\\0\\0" + TIFF) rewritten by the policy above, or None.

    Unreadable EXIF is dropped rather than copied blindly: it might hold GPS.
    """
    exif = _read_exif(raw)
    if exif is None:
        return None
    if strip_gps:
        exif.pop(_GPS_IFD, None)
    if reset_orientation:  # the decoder may have removed the tag: say "upright"
        exif[_ORIENTATION] = 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = exif.tobytes()
    except _EXIF_ERRORS:
        return None
    return out if len(out) > 14 else None  # header + an empty IFD: nothing left


def has_gps(raw: bytes | None) -> bool:
    """Whether EXIF bytes hold a GPS block (unreadable EXIF counts as yes: the caller re-writes it)."""
    if not raw:
        return False
    exif = _read_exif(raw)
    return exif is None or _GPS_IFD in exif


def strip_gps_jpeg(data: bytes) -> bytes | None:
    """The same JPEG without EXIF GPS, pixels untouched (no re-encoding).

    Only the EXIF APP1 segment is rewritten (GPS and thumbnail dropped,
    orientation kept: the pixels are still stored as they were). None when
    the file is not a JPEG whose segments we can walk.
    """
    if data[:2] != b"\xff\xd8":
        return None
    out, pos = [data[:2]], 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            out.append(data[pos:pos + 1])
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            out.append(data[pos:])
            return b"".join(out)
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segment = data[pos:pos + 2 + length]
        if len(segment) != 2 + length or length < 2:
            return None
        body = segment[4:]
        if marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
            exif = clean_exif(body, strip_gps=True, reset_orientation=False)
            if exif:
                segment = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
            else:
                segment = b""
        out.append(segment)
        pos += 2 + length
    return None


def original_alpha(data: bytes) -> np.ndarray | None:
    """(H, W) uint8 alpha of the file, EXIF orientation applied; None if none."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode not in ("RGBA", "LA"):
                img = img.convert("RGBA")  # palette / tRNS transparency
            return np.asarray(img.getchannel("A"))


def webp_is_lossless(data: bytes) -> bool:
    """True if a WebP file's image is stored losslessly (a VP8L chunk).

    A lossy image with alpha has ``VP8 `` + ``ALPH`` chunks, a lossless one
    ``VP8L``; Pillow does not report which, so the RIFF chunks are read.
    """
    if len(data) < 16 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return False
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos:pos + 4]
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if fourcc == b"VP8L":
            return True
        if fourcc in (b"VP8 ", b"ANMF"):
            return False
        pos += 8 + size + (size & 1)
    return False
