"""JSON error responses and reading upload bodies within the caps.

Every refusal is ``{"error": code, "message": sentence}`` with the status the
protocol names (daemon/PROTOCOL.md). Bodies are read in chunks and cut off at
the cap, so an oversized upload is never held whole in memory.
"""

from __future__ import annotations

import json

from aiohttp import web

from ..errors import FaceTooSmallError, ImageDecodeError, ImageTooLargeError, ManyFacesError, NoFaceError

_CHUNK = 1 << 16

#: First bytes of the formats Pillow reads here; anything else is 415.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)


class ApiError(web.HTTPException):
    """An HTTP error with the protocol's JSON body."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        self.status_code = status
        super().__init__(headers=headers, text=json.dumps({"error": code, "message": message}),
                         content_type="application/json")


def sniff(data: bytes) -> str | None:
    """The image format the bytes start with, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    return None


async def read_body(request: web.Request, cap: int) -> bytes:
    """The whole request body, or 413 as soon as it is known to exceed `cap`."""
    declared = request.content_length
    if declared is not None and declared > cap:
        raise ApiError(413, "too_large", f"the upload is {declared:,} bytes; the limit is {cap:,}",
                       headers={"Connection": "close"})
    parts, size = [], 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > cap:
            raise ApiError(413, "too_large", f"the upload is over the limit of {cap:,} bytes",
                           headers={"Connection": "close"})
        parts.append(chunk)
    return b"".join(parts)


async def read_image(request: web.Request, cap: int) -> bytes:
    """An upload body that at least starts like an image we read (else 400/415)."""
    data = await read_body(request, cap)
    if not data:
        raise ApiError(400, "bad_request", "the request has no body; send the image bytes as the body")
    if sniff(data) is None:
        raise ApiError(415, "unsupported_type", "not an image this daemon reads (JPEG, PNG, WebP, GIF, BMP, TIFF)")
    return data


def error_for(exc: Exception) -> ApiError | None:
    """The HTTP error for an engine exception raised in a worker, or None."""
    table = (
        (ImageTooLargeError, 413, "too_many_pixels"),
        (ImageDecodeError, 400, "corrupt_image"),
        (NoFaceError, 422, "no_face"),
        (ManyFacesError, 422, "many_faces"),
        (FaceTooSmallError, 422, "face_too_small"),
    )
    for kind, status, code in table:
        if isinstance(exc, kind):
            return ApiError(status, code, str(exc))
    return None
