"""A JPEG encoded strip by strip and joined (`facecloak.cloak.jpeg_strips`).

The joined file must be the very file the whole image's encode with a restart
marker per MCU row gives, whatever order and thread the strips were encoded
in, decode to the pixels a plain encode decodes to, and carry the metadata;
strips that cannot be joined must say so rather than make a broken file.
"""

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageCms

from facecloak.cloak import jpeg_strips
from facecloak.cloak.jpeg_strips import STRIP_ROWS, JpegStrips, save_unlocked


def photo_like(width, height, seed=0):
    """Smooth shading plus fine noise: something a JPEG encoder has work to do on."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    base = np.stack([128 + 90 * np.sin(x / 97.0 + c) * np.cos(y / 61.0 - c) for c in range(3)], axis=2)
    return Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8), "RGB")


def encode(img, **params):
    buf = io.BytesIO()
    img.save(buf, "JPEG", **params)
    return buf.getvalue()


def decoded(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def all_strips(img, params, order=None, threads=1):
    strips = JpegStrips(img, params)
    order = list(range(len(strips)))[::-1] if order is None else order
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(strips.encode, order))
    return strips


@pytest.mark.parametrize("subsampling", [0, 2])  # 4:4:4 (8-row MCUs) and 4:2:0 (16-row)
def test_strips_joined_are_the_whole_encode_with_restart_markers(subsampling):
    img = photo_like(1531, 1877)  # neither side a multiple of an MCU
    params = {"quality": 95, "subsampling": subsampling}
    strips = all_strips(img, params, threads=2)
    assert len(strips) == 4 and strips.bounds[-1] == (3 * STRIP_ROWS, 1877)
    joined = strips.join()
    assert joined == encode(img, restart_marker_rows=1, **params)
    np.testing.assert_array_equal(decoded(joined), decoded(encode(img, **params)))
    assert len(joined) < 1.01 * len(encode(img, **params))


def test_the_metadata_rides_on_the_first_strip():
    exif = Image.Exif()
    exif[0x010F] = "test camera"  # Make
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    params = {"quality": 90, "subsampling": 0, "exif": exif.tobytes(), "icc_profile": icc}
    img = photo_like(700, 1100, seed=1)
    joined = all_strips(img, params).join()
    assert joined == encode(img, restart_marker_rows=1, **params)
    with Image.open(io.BytesIO(joined)) as out:
        assert out.size == (700, 1100)
        assert out.getexif()[0x010F] == "test camera"
        assert out.info["icc_profile"] == icc


def test_one_strip_is_the_whole_photo():
    img = photo_like(900, STRIP_ROWS - 3)
    strips = all_strips(img, {"quality": 95, "subsampling": 0})
    assert len(strips) == 1
    assert strips.join() == encode(img, quality=95, subsampling=0, restart_marker_rows=1)


def test_strips_that_cannot_be_joined_say_so():
    img = photo_like(640, 1300, seed=2)
    strips = JpegStrips(img, {"quality": 95, "subsampling": 0})
    with pytest.raises(RuntimeError, match="every strip"):
        strips.join()
    # what a Pillow that ignores restart_marker_rows would make: no restart markers
    for p in (strips.params, strips.pixel_params):
        del p["restart_marker_rows"]
    for i in range(len(strips)):
        strips.encode(i)
    assert strips.join() is None
    # strips with other quantisation tables than the first's
    strips = JpegStrips(img, {"quality": 95, "subsampling": 0})
    strips.pixel_params["quality"] = 80
    for i in range(len(strips)):
        strips.encode(i)
    assert strips.join() is None
    with pytest.raises(ValueError, match="progressive"):
        JpegStrips(img, {"quality": 95, "progressive": True})
    with pytest.raises(ValueError, match="multiple of 128"):  # restart markers count to 8
        JpegStrips(img, {"quality": 95}, strip_rows=100)


def test_touching_names_the_strips_a_row_range_falls_in():
    strips = JpegStrips(photo_like(64, 2000), {"quality": 95})
    assert len(strips) == 4
    assert list(strips.touching(0, 1)) == [0]
    assert list(strips.touching(STRIP_ROWS - 1, STRIP_ROWS + 1)) == [0, 1]
    assert list(strips.touching(STRIP_ROWS, 2 * STRIP_ROWS)) == [1]
    assert list(strips.touching(1000, 5000)) == [1, 2, 3]


@pytest.mark.parametrize("memfd", [True, False])  # False: the temporary file of systems without memfd
def test_save_unlocked_is_save(memfd, monkeypatch):
    monkeypatch.setattr(jpeg_strips, "_HAS_MEMFD", memfd and jpeg_strips._HAS_MEMFD)
    img = photo_like(300, 200, seed=3)
    for fmt, params in (("JPEG", {"quality": 95}), ("PNG", {"compress_level": 1})):
        buf = io.BytesIO()
        img.save(buf, fmt, **params)
        assert save_unlocked(img, fmt, **params) == buf.getvalue()
