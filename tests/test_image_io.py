"""Decoding: formats and modes to RGB, EXIF orientation, and every refusal."""

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from facecloak.errors import FaceCloakError, ImageDecodeError, ImageTooLargeError
from facecloak.faces import load_image, load_image_with_info


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def pattern(w: int = 64, h: int = 48) -> np.ndarray:
    """An (h, w, 3) uint8 image with no symmetry: coarse coloured blocks."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x // 8) * 30 % 256, (y // 8) * 40 % 256, ((x // 16) + 2 * (y // 16)) * 35 % 256], -1)
    rgb[: h // 4, : w // 4] = (255, 0, 0)  # a red top-left corner
    return rgb.astype(np.uint8)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature, an IHDR claiming width x height RGB, and IEND: no pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_formats_roundtrip_exactly(fmt):
    rgb = pattern()
    kw = {"lossless": True} if fmt == "WEBP" else {}
    out, info = load_image_with_info(encode(Image.fromarray(rgb), fmt, **kw))
    assert out.dtype == np.uint8 and out.shape == rgb.shape and out.flags.c_contiguous
    assert out.flags.writeable
    np.testing.assert_array_equal(out, rgb)
    assert info.format == fmt and info.size == (64, 48) and info.orientation == 1


def test_jpeg_from_bytes_and_from_path_agree(tmp_path):
    data = encode(Image.fromarray(pattern()), "JPEG", quality=95)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    a, b = load_image(data), load_image(path)
    np.testing.assert_array_equal(a, b)
    assert load_image(str(path)).shape == (48, 64, 3)
    assert np.abs(a.astype(int) - pattern()).mean() < 3


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "CMYK", "1"])
def test_modes_become_rgb(mode):
    rgb = pattern()
    img = Image.fromarray(rgb).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out, info = load_image_with_info(encode(img, fmt))
    assert out.shape == (48, 64, 3) and out.dtype == np.uint8
    expected = np.asarray(img.convert("RGB"), dtype=int)
    assert np.abs(out.astype(int) - expected).mean() < (3 if fmt == "JPEG" else 0.01)
    assert info.mode == mode and info.has_alpha == (mode in ("RGBA", "LA"))


def test_palette_with_transparency_gives_rgb_without_warning():
    img = Image.fromarray(pattern()).convert("P")
    data = encode(img, "PNG", transparency=0)
    out, info = load_image_with_info(data)
    assert out.shape == (48, 64, 3) and info.has_alpha


def test_16_bit_grey_keeps_its_range():
    grey = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    img = Image.fromarray(grey)  # Pillow picks mode I;16
    out = load_image(encode(img, "PNG"))
    assert out.shape == (1, 3, 3)
    assert out[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation):
    upright = pattern()
    # What a camera stores for each tag: the inverse of the display transform.
    stored_from_upright = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, 1),
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, -1),
    }[orientation]
    stored = Image.fromarray(np.ascontiguousarray(stored_from_upright(upright)))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out, info = load_image_with_info(encode(stored, "JPEG", quality=95, exif=exif.tobytes()))
    assert info.orientation == orientation
    carried = Image.Exif()
    carried.load(info.exif)
    assert carried.get(0x0112, 1) == 1  # the EXIF to carry says "upright" now
    assert out.shape == upright.shape
    assert np.abs(out.astype(int) - upright).mean() < 4  # JPEG loss only
    assert np.abs(out[2, 2].astype(int) - (255, 0, 0)).max() < 12  # red corner stays top-left


def test_icc_profile_is_reported():
    icc = b"\x00" * 128  # opaque bytes: only carried, never interpreted
    _, info = load_image_with_info(encode(Image.fromarray(pattern()), "PNG", icc_profile=icc))
    assert info.icc_profile == icc


def test_zero_bytes_is_a_clear_error(tmp_path):
    with pytest.raises(ImageDecodeError, match=r"empty \(0 bytes\)"):
        load_image(b"")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty.jpg.*empty"):
        load_image(empty)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ImageDecodeError, match="cannot read.*nope.png"):
        load_image(tmp_path / "nope.png")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_file_is_a_clear_error(fmt, keep):
    noisy = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noisy), fmt)
    with pytest.raises(ImageDecodeError, match="truncated or corrupt|corrupt image header|not an image"):
        load_image(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    "data",
    [b"hello, this is plain text, not a photo\n" * 20, b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff"],
    ids=["text", "png-signature-only", "gif-signature-only", "jpeg-soi-only"],
)
def test_non_image_is_a_clear_error(data):
    with pytest.raises(ImageDecodeError):
        load_image(data)


def test_unsupported_format_is_refused_not_run():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    with pytest.raises(ImageDecodeError, match="accepted formats: JPEG, PNG"):
        load_image(eps)  # never handed to Ghostscript


def test_huge_header_is_refused_before_decoding():
    data = png_header_only(100_000, 100_000)
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match=r"10000\.0 megapixels.*the limit is 100\.0 megapixels"):
        load_image(data)
    assert time.perf_counter() - start < 1.0


def test_pixel_cap_is_the_callers():
    data = encode(Image.fromarray(pattern()), "PNG")  # 64 x 48 = 3072 pixels
    with pytest.raises(ImageTooLargeError):
        load_image(data, max_pixels=3000)
    assert load_image(data, max_pixels=3072).shape == (48, 64, 3)


def test_header_size_is_checked_against_our_cap():
    with pytest.raises(ImageTooLargeError, match=r"12000x10000 = 120\.0 megapixels.*limit is 100\.0"):
        load_image(png_header_only(12_000, 10_000))  # under Pillow's own guard


def test_pillow_bomb_guard_also_maps_to_too_large():
    # A raised cap does not switch off Pillow's own guard (2 x MAX_IMAGE_PIXELS).
    with pytest.raises(ImageTooLargeError, match="10000.0 megapixels, too large to decode safely"):
        load_image(png_header_only(100_000, 100_000), max_pixels=10**12)


def test_every_error_is_a_facecloak_error():
    assert issubclass(ImageDecodeError, FaceCloakError)
    assert issubclass(ImageTooLargeError, FaceCloakError)


@pytest.mark.shared
def test_every_shared_photo_decodes(photos_dir):
    files = [p for p in sorted(photos_dir.rglob("*")) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    assert len(files) > 100
    formats = set()
    for path in files:
        rgb, info = load_image_with_info(path)
        assert rgb.ndim == 3 and rgb.shape[2] == 3 and rgb.dtype == np.uint8
        assert (rgb.shape[1], rgb.shape[0]) == info.size
        formats.add(info.format)
    assert formats == {"JPEG", "PNG", "WEBP"}  # deepface/img47.jpg is really a WebP
