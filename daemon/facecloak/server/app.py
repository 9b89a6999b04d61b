"""The HTTP routes of daemon/PROTOCOL.md, on an aiohttp application.

Handlers only parse, check and answer: decoding, detection and cloaking run
in the worker processes (`workers.CloakPool`), enrolment in its own process
(`enrol_worker.EnrolRunner`), so the event loop stays responsive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging

from aiohttp import web

from .. import __version__
from ..cloak.config import STRENGTHS, CloakConfig
from ..cloak.profiles import ProfileError, check_name
from ..errors import FaceCloakError
from ..paths import lookalike_pool_path
from . import workers
from .http_errors import ApiError, error_for, read_body, read_image
from .security import TOKEN_HEADER, errors_middleware, security_middleware
from .settings import SettingsError
from .state import Daemon

log = logging.getLogger("facecloak.server")
PROTOCOL = 1
_FORMAT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_MAX_JSON = 256 * 1024
_SSE_KEEPALIVE_S = 15.0

routes = web.RouteTableDef()


def _daemon(request: web.Request) -> Daemon:
    return request.app["daemon"]


async def _json_body(request: web.Request) -> object:
    raw = await read_body(request, _MAX_JSON)
    try:
        return json.loads(raw or b"null")
    except ValueError:
        raise ApiError(400, "bad_request", "the body is not valid JSON") from None


async def _in_worker(daemon: Daemon, fn, *args):
    try:
        return await daemon.pool.run(fn, *args)
    except FaceCloakError as exc:
        err = error_for(exc)
        if err is None:
            raise ApiError(400, "bad_request", str(exc)) from None
        raise err from None


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ApiError(400, "bad_request", f"{name} must be 1 or 0")


# -- pairing and tokens --------------------------------------------------------
@routes.post("/v1/pair")
async def pair(request: web.Request) -> web.Response:
    daemon = _daemon(request)
    body = await _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise ApiError(400, "bad_request", 'send {"code": "XXXX-XXXX", "client": "name"}')
    if not daemon.pairing.redeem(body["code"]):
        log.warning("a wrong pairing code was offered")
        raise ApiError(403, "bad_code", "that pairing code is not the current one; run `facecloak pair` "
                                        "to see it (codes change after use and after 5 wrong tries)")
    client = body.get("client") if isinstance(body.get("client"), str) else "client"
    token, record = daemon.tokens.issue(client, request.headers.get("Origin"))
    log.info("paired a new client %r (token id %s)", record.client, record.id)
    return web.json_response({"token": token, "id": record.id})


@routes.get("/v1/tokens")
async def list_tokens(request: web.Request) -> web.Response:
    return web.json_response({"tokens": [r.public() for r in _daemon(request).tokens.list()]})


@routes.delete("/v1/tokens/{id}")
async def revoke_token(request: web.Request) -> web.Response:
    if not _daemon(request).tokens.revoke(request.match_info["id"]):
        raise ApiError(404, "not_found", "no token with that id")
    return web.Response(status=204)


# -- status, settings, profiles --------------------------------------------------
@routes.get("/v1/status")
async def status(request: web.Request) -> web.Response:
    daemon = _daemon(request)
    running = daemon.jobs.running()
    return web.json_response({
        "version": __version__, "protocol": PROTOCOL, "profiles": daemon.profile_names(),
        "active_profile": daemon.default_profile(), "enrolling": running.id if running else None,
        "caps": {"max_bytes": daemon.config.max_bytes, "max_pixels": daemon.config.max_pixels},
        "keyring": daemon.keyring_name, "lookalike_pool": lookalike_pool_path().is_file()})


@routes.get("/v1/settings")
async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(_daemon(request).settings.public())


@routes.put("/v1/settings")
async def put_settings(request: web.Request) -> web.Response:
    daemon = _daemon(request)
    try:
        return web.json_response(daemon.settings.update(await _json_body(request)))
    except SettingsError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@routes.get("/v1/profiles")
async def list_profiles(request: web.Request) -> web.Response:
    out = []
    for info in _daemon(request).profiles.list():
        if info.problem is not None:
            out.append({"name": info.name, "problem": info.problem})
            continue
        mm = info.mask_meta
        budget = dict(zip(("eps", "sticker_eps", "highpass_eps"), STRENGTHS[mm["strength"]], strict=True)) \
            if mm.get("strength") in STRENGTHS else None
        out.append({"name": info.name, "created": info.created.isoformat() if info.created else None,
                    "models": list(info.models), "strength": mm.get("strength"), "budget": budget,
                    "backend": info.meta.get("backend", mm.get("backend"))})
    return web.json_response({"profiles": out})


@routes.delete("/v1/profiles/{name}")
async def delete_profile(request: web.Request) -> web.Response:
    daemon = _daemon(request)
    name = request.match_info["name"]
    try:
        check_name(name)
        if not daemon.profiles.exists(name):
            raise ApiError(404, "not_found", f"no profile named {name!r}")
        await daemon.delete_profile(name)
    except ProfileError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return web.Response(status=204)


# -- detect and cloak --------------------------------------------------------------
@routes.post("/v1/detect")
async def detect(request: web.Request) -> web.Response:
    daemon = _daemon(request)
    data = await read_image(request, daemon.config.max_bytes)
    return web.json_response(await _in_worker(daemon, workers.detect_faces, data, daemon.config.max_pixels))


@routes.post("/v1/cloak")
async def cloak(request: web.Request) -> web.Response:
    daemon = _daemon(request)
    data = await read_image(request, daemon.config.max_bytes)
    settings = daemon.settings.data
    name = request.query.get("profile") or daemon.default_profile()
    if name is None:
        raise ApiError(409, "no_profile", "no profile to cloak with: enrol first (or name one with ?profile=)")
    try:
        check_name(name)
        profile = await daemon.load_profile(name)
    except ProfileError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    only_user = _flag(request, "only_user", settings["only_user"])
    gps = request.query.get("gps", "strip" if settings["strip_gps"] else "keep")
    if gps not in ("strip", "keep"):
        raise ApiError(400, "bad_request", "gps must be 'strip' or 'keep'")
    embedding = model = None
    if only_user:
        from ..cloak.apply import match_model_for

        model = match_model_for(profile.embeddings)
        if model is None:
            raise ApiError(409, "no_profile", f"profile {name!r} cannot recognise you (enrol again), "
                                              "or cloak every face with only_user=0")
        embedding = profile.embeddings[model]
    result = await _in_worker(daemon, workers.cloak, data, profile.mask.to_bytes(), embedding,
                              gps == "strip", daemon.config.max_pixels, model)
    headers = {"X-FaceCloak-Faces-Found": str(result["faces_found"]),
               "X-FaceCloak-Faces-Cloaked": str(result["faces_cloaked"]),
               "X-FaceCloak-Changed": "1" if result["faces_cloaked"] else "0",
               "X-FaceCloak-Ms": f"{result['ms']:.0f}", "X-FaceCloak-Profile": name,
               "Cache-Control": "no-store"}
    return web.Response(body=result["data"], headers=headers,
                        content_type=_FORMAT_TYPES.get(result["format"], "application/octet-stream"))


# -- enrolment jobs ------------------------------------------------------------------
def _enrol_config(request: web.Request, strength_default: str) -> CloakConfig:
    q = request.query
    overrides: dict = {}
    try:
        for key in ("k", "steps"):
            if key in q:
                overrides[key] = int(q[key])
        if "surrogates" in q:
            overrides["surrogates"] = tuple(s for s in q["surrogates"].split(",") if s)
        return CloakConfig.for_strength(q.get("strength", strength_default), **overrides)
    except (ValueError, TypeError, KeyError) as exc:
        raise ApiError(400, "bad_request", f"bad enrolment option: {exc}") from None


@routes.post("/v1/enrol")
async def start_enrol(request: web.Request) -> web.Response:
    daemon = _daemon(request)
    name = request.query.get("profile", "me")
    try:
        check_name(name)
    except ProfileError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    config = _enrol_config(request, daemon.settings.data["strength"])
    if daemon.jobs.running() is not None:
        raise ApiError(409, "busy", "an enrolment is already running; wait for it or cancel it")
    data = await read_image(request, daemon.config.max_bytes)
    await _in_worker(daemon, workers.check_enrolment_photo, data, daemon.config.max_pixels)
    if daemon.jobs.running() is not None:  # another one started while we checked
        raise ApiError(409, "busy", "an enrolment is already running; wait for it or cancel it")
    job = daemon.jobs.create("enrol", name)
    daemon.enroller.submit(job.id, data, dataclasses.asdict(config))
    log.info("enrolment job %s started for profile %r", job.id, name)
    return web.json_response({"job": job.id}, status=202)


def _job(request: web.Request):
    job = _daemon(request).jobs.get(request.match_info["id"])
    if job is None:
        raise ApiError(404, "not_found", "no job with that id")
    return job


@routes.get("/v1/jobs/{id}")
async def get_job(request: web.Request) -> web.Response:
    return web.json_response(_job(request).public())


@routes.delete("/v1/jobs/{id}")
async def cancel_job(request: web.Request) -> web.Response:
    job = _job(request)
    if job.active:
        _daemon(request).enroller.cancel(job.id)
    return web.json_response(job.public(), status=202 if job.active else 200)


@routes.get("/v1/jobs/{id}/events")
async def job_events(request: web.Request) -> web.StreamResponse:
    daemon, job = _daemon(request), _job(request)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    queue = daemon.jobs.subscribe(job)
    try:
        snapshot = job.public()
        while True:
            event = "progress" if snapshot["state"] in ("queued", "running") else "end"
            await response.write(f"event: {event}\ndata: {json.dumps(snapshot)}\n\n".encode())
            if event == "end":
                break
            try:
                snapshot = await asyncio.wait_for(queue.get(), _SSE_KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                snapshot = job.public()
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client went away; the job goes on
    finally:
        daemon.jobs.unsubscribe(job, queue)
    return response


# -- the application -------------------------------------------------------------------
def make_app(daemon: Daemon) -> web.Application:
    app = web.Application(middlewares=[errors_middleware, security_middleware(daemon.tokens, daemon.config.max_bytes)],
                          client_max_size=daemon.config.max_bytes)
    app["daemon"] = daemon
    app.add_routes(routes)

    async def on_startup(app: web.Application) -> None:
        await daemon.start()

    async def on_cleanup(app: web.Application) -> None:
        await daemon.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


__all__ = ["PROTOCOL", "TOKEN_HEADER", "make_app"]
