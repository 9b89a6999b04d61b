"""The cloak of an RGB photo that stays a Pillow image: only the faces go through numpy.

`cloak_bytes` on a JPEG, PNG or WebP whose pixels need no conversion (mode
"RGB", no transparency) comes here instead of decoding to a numpy array:

* The faces are found on a reduced copy. For a JPEG the copy is decoded on
  its own, in a second thread, by libjpeg's scaled IDCT (Pillow's `draft`:
  1/2, 1/4 or 1/8 of the size: the detector's `copy_factor` when it gives
  one, else the smallest still at least its `detect_size`), and
  `FaceDetector.find` runs on it while the calling thread decodes the full
  photo; other formats are decoded once and reduced by Pillow's box filter
  (`Image.reduce`). Either way a copy pixel is the
  mean of an s x s block of the photo, so faces map back exactly
  (``(p + 0.5) * s - 0.5``; off by under one pixel where EXIF orientation
  flips a side that is not a multiple of s).
* Landmarks, the human check, the match with the user and the mask's
  paste read the photo one region at a time (`PixelSource`); the cloaked
  photo is encoded from the Pillow image. A JPEG taller than one strip of
  `jpeg_strips` is pasted and encoded strip by strip, both threads taking
  strips from one queue (`cloak_and_encode`); otherwise a large face (a
  close-up's footprint is megapixels) is pasted in two bands, one on each
  thread, and the photo encoded at once (`encode_image_like`). The strips
  far from every face found start on the second thread while the calling
  one places the landmarks and matches the user (`FarStrips`).

This saves the two copies of the whole photo between Pillow and numpy
(~50-80 ms at 12 megapixels) and overlaps face finding with decoding. The
faces can differ slightly from `FaceDetector.detect` on the decoded array
(the copy is a DCT-domain reduction, not an area average): by a fraction of
a pixel of the copy.
"""

from __future__ import annotations

import io
import queue
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import numpy as np
from PIL import Image, ImageOps

from ..faces import Face, FaceDetector, paste_aligned
from ..faces.align import PixelSource, compose_affine
from ..faces.detect import TwoScales
from ..faces.image_io import ImageInfo, load_upright
from ..faces.paste import crop_footprint
from ..pools import ProcessLocalPool
from .jpeg_strips import STRIP_ROWS, JpegStrips
from .mask import SIZE, CloakMask

#: The second thread: the reduced decode and face finding beside the full decode, and one
#: of the two bands of a large face's paste.
_SIDE = ProcessLocalPool(1, "facecloak-side")

#: A face's footprint of more pixels than this is pasted in two bands, one per thread (a
#: 12 MP close-up's is ~3 MP; `facecloak bench latency` times the paste as a step).
SPLIT_PIXELS = 1 << 20

#: A strip is far from a face (`FarStrips`) when no row of it is within this many of the
#: face's box sides (the larger) of the box's centre: how far the mask's footprint reached
#: for 90% of 286 faces of shared/data/photos and LFW (99%: 0.88, all: 1.04; ad hoc). A
#: strip it reaches after all is encoded again; a wider margin would leave a close-up's
#: photo no far strip.
FAR_SIDES = 0.75


def takes(img: Image.Image) -> bool:
    """Whether an opened image can be cloaked as a Pillow image (RGB, no transparency)."""
    return img.mode == "RGB" and "transparency" not in img.info and img.format in ("JPEG", "MPO", "PNG", "WEBP")


def decode_and_find(img: Image.Image, what: str, data: bytes, detector: FaceDetector, max_pixels: int,
                    found: Callable[[Image.Image, ImageInfo, list[Face]], None] | None = None,
                    human_check: bool | None = None) -> tuple[Image.Image, ImageInfo, list[Face], TwoScales]:
    """Decode an opened image (`takes` it), upright, and find its faces: (image, info, faces,
    photo), photo the image and the reduced copy the faces were found on, to cut further
    crops from (the match with the user: a close-up's face is read from the copy).
    found: called with the image, its info and the faces found (boxes only) before their
    landmarks are placed (`FarStrips.start`). human_check: as `FaceDetector.detect`'s."""
    if img.format not in ("JPEG", "MPO"):
        img, info = load_upright(img, what, max_pixels)
        photo, faces = _find_on_copy(_reduced(img, detector), detector)
        if found is not None:
            found(img, info, faces)
        return img, info, finish(img, detector, photo, faces, human_check), photo
    side = _SIDE.get().submit(find_on_draft, data, detector)
    try:
        img, info = load_upright(img, what, max_pixels)
    except BaseException:
        side.cancel() or side.exception()  # wait for it; the full decode's error is the one to report
        raise
    try:
        photo, faces = side.result()
    except Exception:  # the reduced decode failed where the full one did not
        photo, faces = _find_on_copy(_reduced(img, detector), detector)
    if found is not None:
        found(img, info, faces)
    return img, info, finish(img, detector, photo, faces, human_check), photo


def cloak_image(img: Image.Image, mask: CloakMask, faces: list[Face], select: list[bool] | None) -> int:
    """`cloak_array` on a Pillow image, in place: each selected face's footprint is copied
    out, the mask added (`paste_aligned`) and pasted back; a footprint of more than
    `SPLIT_PIXELS` as two bands, the lower one on the second thread (a pixel on either side
    of the cut gets what the whole would give it, but for OpenCV's fixed-point rounding of
    where it samples the mask: off by one level at a few pixels in a million). Returns the
    faces cloaked."""
    from .apply import selected_alignments

    n = 0
    for aligned_from_image in selected_alignments(faces, select):
        n += 1
        roi = crop_footprint((img.height, img.width), aligned_from_image, SIZE)
        if roi is None:
            continue
        x0, y0, x1, y1 = roi
        bands = [roi]
        if (x1 - x0) * (y1 - y0) > SPLIT_PIXELS:
            mid = (y0 + y1) // 2
            bands = [(x0, y0, x1, mid), (x0, mid, x1, y1)]
        lower = [_SIDE.get().submit(_cloaked_band, img, mask, aligned_from_image, b) for b in bands[1:]]
        regions = [_cloaked_band(img, mask, aligned_from_image, bands[0])] + [f.result() for f in lower]
        for band, region in zip(bands, regions, strict=True):
            img.paste(Image.fromarray(region, "RGB"), band[:2])
    return n


class FarStrips:
    """The strips of a JPEG to be cloaked (`JpegStrips`) that are far from every face found
    (no row within `FAR_SIDES` of a face's box), encoded on the second thread from the
    photo as decoded while the calling thread places the faces' landmarks and matches the
    user, where that thread has nothing to do; `cloak_and_encode` takes over the rest.
    Should a mask's footprint reach one of them after all, it is encoded again once
    pasted. When no face is cloaked in the end (`cancel`), their work was for nothing:
    at most what the second thread encodes meanwhile."""

    def __init__(self, strips: JpegStrips, fmt: str, params: dict, far: list[int]) -> None:
        self.strips, self.fmt, self.params, self.far = strips, fmt, params, far
        self._todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in far:
            self._todo.put(i)
        self.future: Future = _SIDE.get().submit(self._work)

    @classmethod
    def start(cls, img: Image.Image, info: ImageInfo, faces: list[Face], original: bytes, *,
              strip_gps: bool = True) -> FarStrips | None:
        """Start on a decoded photo whose faces were found (their boxes); None when it is
        not encoded in strips, or has no face, or no strip far from one."""
        from .encode import output_format, save_params

        if not faces or output_format(info.format) != "JPEG" or img.height <= STRIP_ROWS:
            return None
        fmt, params = save_params(original, info, strip_gps=strip_gps)
        strips = JpegStrips(img, params)
        near: set[int] = set()
        for face in faces:
            x0, y0, x1, y1 = face.box
            reach = FAR_SIDES * max(x1 - x0, y1 - y0)
            near.update(strips.touching(max(0, int((y0 + y1) / 2 - reach)), int((y0 + y1) / 2 + reach) + 1))
        far = [i for i in range(len(strips)) if i not in near]
        return cls(strips, fmt, params, far) if far else None

    def _work(self) -> None:
        for i in _taken(self._todo):
            self.strips.encode(i)

    def stop(self) -> set[int]:
        """Take no more strips: the far strips started (encoded, or being encoded)."""
        return set(self.far) - set(_taken(self._todo))

    def cancel(self) -> None:
        """No face is cloaked after all: leave the strips not started undone."""
        self.stop()


def cloak_and_encode(img: Image.Image, mask: CloakMask, faces: list[Face], select: list[bool] | None,
                     original: bytes, info: ImageInfo, *, strip_gps: bool = True,
                     early: FarStrips | None = None) -> tuple[bytes, str, int]:
    """`cloak_image`, then `encode_image_like`: (file bytes, format, faces cloaked). A JPEG
    taller than one strip is encoded in strips (`JpegStrips`) by both threads: each strip
    once the faces' footprints in its rows are pasted (footprint cut at the strips' edges,
    as `cloak_image` cuts its bands), the strips with paste work first. early: the far
    strips started on this photo (`FarStrips.start` with the same `strip_gps`)."""
    from .apply import selected_alignments
    from .encode import encode_image_like, output_format, save_params

    if output_format(info.format) != "JPEG" or img.height <= STRIP_ROWS:
        n = cloak_image(img, mask, faces, select)
        return *encode_image_like(img, original, info, strip_gps=strip_gps), n
    if early is not None:
        strips, fmt, started = early.strips, early.fmt, early.stop()
    else:
        fmt, params = save_params(original, info, strip_gps=strip_gps)
        strips, started = JpegStrips(img, params), set()
    paste: list[list[tuple[np.ndarray, tuple[int, int, int, int]]]] = [[] for _ in range(len(strips))]
    alignments = list(selected_alignments(faces, select))
    for aligned_from_image in alignments:
        roi = crop_footprint((img.height, img.width), aligned_from_image, SIZE)
        if roi is None:
            continue
        x0, y0, x1, y1 = roi
        for i in strips.touching(y0, y1):
            s0, s1 = strips.bounds[i]
            paste[i].append((aligned_from_image, (x0, max(y0, s0), x1, min(y1, s1))))

    def cost(i: int) -> int:
        return sum((b[2] - b[0]) * (b[3] - b[1]) for _, b in paste[i])

    again = {i for i in started if paste[i]}
    if again:  # a footprint reached a far strip: paste once it is encoded, then encode it again
        early.future.result()  # type: ignore[union-attr]
        started -= again
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in sorted((i for i in range(len(strips)) if i not in started), key=cost, reverse=True):
        todo.put(i)

    def work() -> None:
        for i in _taken(todo):
            for aligned_from_image, band in paste[i]:
                region = _cloaked_band(img, mask, aligned_from_image, band)
                img.paste(Image.fromarray(region, "RGB"), band[:2])
            strips.encode(i)

    side = _SIDE.get().submit(work)
    try:
        work()
    finally:
        set(_taken(todo))  # the calling thread failed: leave the second nothing more to do
        side.result()
        if early is not None:
            early.future.result()
    data = strips.join()
    if data is None:  # strips that cannot be joined (a Pillow without restart markers)
        data = encode_image_like(img, original, info, strip_gps=strip_gps)[0]
    return data, fmt, len(alignments)


def _taken(todo: queue.SimpleQueue[int]) -> Iterator[int]:
    """The items of `todo`, each taken once by whichever thread gets it, until it is empty."""
    while True:
        try:
            yield todo.get_nowait()
        except queue.Empty:
            return


def _cloaked_band(img: Image.Image, mask: CloakMask, aligned_from_image: np.ndarray,
                  band: tuple[int, int, int, int]) -> np.ndarray:
    """The photo's region ``band`` (x0, y0, x1, y1) with the mask added, as an array."""
    x0, y0 = band[:2]
    region = np.array(img.crop(band))
    aligned_from_region = compose_affine(aligned_from_image, np.array([[1.0, 0, x0], [0, 1.0, y0]]))
    return paste_aligned(region, mask.delta, aligned_from_region, inplace=True)


def find_on_draft(data: bytes, detector: FaceDetector) -> tuple[TwoScales, list[Face]]:
    """Decode a JPEG reduced by libjpeg (1/2, 1/4, 1/8: the detector's `copy_factor`, or
    else the smallest no smaller than the detection copy), upright, and find faces on it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = Image.open(io.BytesIO(data))
        width, height = img.size
        k = detector.copy_factor(max(width, height))
        f = detector.detect_size / max(width, height)
        if k > 1:  # Pillow takes the largest power of 2 that leaves at least the size asked
            img.draft("RGB", (width // k, height // k))
        elif f < 0.5:
            img.draft("RGB", (int(np.ceil(width * f)), int(np.ceil(height * f))))
        img.load()
        block = round(width / img.size[0])
        ImageOps.exif_transpose(img, in_place=True)
    return _find_on_copy((np.asarray(img), block), detector)


def _reduced(img: Image.Image, detector: FaceDetector) -> tuple[np.ndarray, int]:
    """(the image reduced by the detector's `copy_factor`, or else by a whole factor to no
    less than the detection copy; the factor)."""
    block = detector.copy_factor(max(img.size))
    if block == 1:
        block = max(1, int(max(img.size) // detector.detect_size))
    return np.asarray(img.reduce(block) if block > 1 else img), block


def _find_on_copy(copy: tuple[np.ndarray, int], detector: FaceDetector) -> tuple[TwoScales, list[Face]]:
    reduced, block = copy
    small, fx, fy = detector.shrink(reduced, reduced=block > 1)
    photo = TwoScales(None, small, fx * block, fy * block)
    return photo, detector.find(photo)


def finish(img: Image.Image, detector: FaceDetector, photo: TwoScales, faces: list[Face],
           human_check: bool | None = None) -> list[Face]:
    """The faces found on a reduced copy (`find_on_draft`), finished on the decoded photo:
    landmarks and the human-face check (`FaceDetector.finish`)."""
    photo.full = PixelSource(img)
    return detector.finish(photo, faces, human_check)
