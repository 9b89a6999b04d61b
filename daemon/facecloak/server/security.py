"""The checks every request meets before a handler runs (daemon/PROTOCOL.md, "Rules").

Order: Host (DNS rebinding) -> token -> Origin. Errors become the protocol's
JSON, and nothing here logs a header's value.
"""

from __future__ import annotations

import logging

from aiohttp import web

from .http_errors import ApiError
from .tokens import is_extension_origin

log = logging.getLogger("facecloak.server")

TOKEN_HEADER = "X-FaceCloak-Token"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
OPEN_ROUTES = frozenset({("POST", "/v1/pair")})


def host_name(host: str | None) -> str:
    """``"127.0.0.1:47733"`` -> ``"127.0.0.1"``; ``"[::1]:80"`` -> ``"[::1]"``."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def check_origin_for_pairing(origin: str | None) -> None:
    if origin is not None and not is_extension_origin(origin):
        raise ApiError(403, "bad_origin", "pairing is only open to the FaceCloak extension and to local programs")


@web.middleware
async def errors_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError:
        raise
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "bad_request")
        raise ApiError(exc.status, code, exc.reason or "request refused", headers=None) from None
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        raise ApiError(500, "internal", "internal error; see the daemon's log") from None


def security_middleware(tokens, max_bytes: int):
    @web.middleware
    async def middleware(request: web.Request, handler):
        if host_name(request.headers.get("Host")) not in LOOPBACK_NAMES:
            raise ApiError(421, "bad_host", "this daemon only answers requests addressed to a loopback name")
        if (request.method, request.path) in OPEN_ROUTES:
            check_origin_for_pairing(request.headers.get("Origin"))
            return await handler(request)
        record = tokens.lookup(request.headers.get(TOKEN_HEADER))
        if record is None:
            raise ApiError(401, "unauthorized", f"missing or unknown {TOKEN_HEADER}; pair first (POST /v1/pair)")
        origin = request.headers.get("Origin")
        if origin is not None and origin != record.origin:
            raise ApiError(403, "bad_origin", "this token was not paired from this origin")
        request["client"] = record
        declared = request.content_length
        if declared is not None and declared > max_bytes:  # before any handler reads a byte
            raise ApiError(413, "too_large", f"the upload is {declared:,} bytes; the limit is {max_bytes:,}",
                           headers={"Connection": "close"})
        return await handler(request)

    return middleware
