"""A large JPEG written in strips on several threads (`facecloak.cloak.jpeg_strips`).

It must decode, with Pillow and with OpenCV, to exactly the pixels of one
Pillow `save` with the same settings, keep the first strip's metadata, number
its restart markers in order, and fall back to one `save` where it cannot cut.
"""

import io
import re
import struct

import cv2
import numpy as np
import pytest
from PIL import Image

from facecloak.cloak import jpeg_strips
from facecloak.cloak.jpeg_strips import encode_jpeg

OPTIONS = {"quality": 95, "subsampling": 0}


def photo(width, height, seed=0):
    """Smooth colour ramps plus noise: compresses like a photo, not like noise or flat grey."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width * 200, y / height * 200, (x + y) / (width + height) * 255], axis=-1)
    base += 40 * np.sin(x[..., None] / 37.0 + np.arange(3)) + rng.normal(0, 6, (height, width, 3))
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))


def plain(img, **options):
    buf = io.BytesIO()
    img.save(buf, "JPEG", **options)
    return buf.getvalue()


def pixels(data):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def scan(data):
    """The entropy-coded bytes between SOS and EOI."""
    i = 2
    while True:
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        i += 2 + length
        if marker == 0xDA:
            return data[i:-2]


@pytest.mark.parametrize("size, threads", [((1500, 1401), 2), ((1203, 2000), 3), ((2000, 1100), 4)])
def test_strips_decode_to_the_pixels_of_one_save(size, threads):
    img = photo(*size)
    data = encode_jpeg(img, threads=threads, **OPTIONS)
    one = plain(img, **OPTIONS)
    assert data != one and b"\xff\xdd" in data[:data.index(b"\xff\xda")]  # cut, with a DRI
    want = pixels(one)
    np.testing.assert_array_equal(pixels(data), want)
    by_opencv = [cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR) for d in (data, one)]
    np.testing.assert_array_equal(*by_opencv)
    assert abs(len(data) - len(one)) < 0.01 * len(one)


def test_restart_markers_count_up_through_the_strips():
    # 9,000 px wide: 1,125 MCUs a row, so a restart interval is at most 58 rows and
    # every strip holds several intervals whose markers must be renumbered
    img = photo(9000, 1000)
    data = encode_jpeg(img, threads=2, **OPTIONS)
    markers = [m.group()[1] - 0xD0 for m in re.finditer(rb"\xff[\xd0-\xd7]", scan(data))]
    rows, strips = jpeg_strips._plan(img, 2, OPTIONS)
    assert len(strips) == 2 and rows * 1125 <= 65535
    assert len(markers) == -(-125 // rows) - 1  # 125 MCU rows
    assert markers == [k % 8 for k in range(len(markers))]
    np.testing.assert_array_equal(pixels(data), pixels(plain(img, **OPTIONS)))


def test_metadata_of_the_first_strip_is_kept():
    img = photo(1600, 1400)
    exif = Image.Exif()
    exif[0x010F] = "FaceCloak test camera"
    icc = b"\0" * 16 + b"RGB " + b"\0" * 200
    data = encode_jpeg(img, threads=2, exif=exif.tobytes(), icc_profile=icc, **OPTIONS)
    with Image.open(io.BytesIO(data)) as out:
        assert out.size == img.size
        assert out.getexif()[0x010F] == "FaceCloak test camera"
        assert out.info["icc_profile"] == icc
    assert data.count(b"FaceCloak test camera") == 1  # not once per strip


@pytest.mark.parametrize("case", ["small", "one thread", "4:2:0", "progressive", "grey"])
def test_what_it_cannot_cut_is_one_ordinary_save(case):
    img, threads, options = photo(1600, 1400), 2, dict(OPTIONS)
    if case == "small":
        img = photo(1000, 900)
    elif case == "one thread":
        threads = 1
    elif case == "4:2:0":
        options["subsampling"] = 2
    elif case == "progressive":
        options["progressive"] = True
    else:
        img = img.convert("L")
    assert encode_jpeg(img, threads=threads, **options) == plain(img, **options)


def test_strips_that_disagree_are_not_spliced():
    a, b = plain(photo(64, 64), quality=95), plain(photo(64, 64), quality=80)
    assert jpeg_strips._splice([a, b], 128) is None
    assert jpeg_strips._splice([a, a[:-2]], 128) is None  # no EOI
