"""The real daemon, driven over HTTP on a loopback port: refusals, pairing, settings, cloak.

One daemon process serves the whole module (tests/daemon_process.py); tests
that stop or restart a daemon live in test_daemon_jobs.py.
"""

from __future__ import annotations

import base64
import configparser
import http.client
import io
import json
import socket

import numpy as np
import pytest
from PIL import Image

from daemon_process import TOKEN_HEADER, DaemonProcess

pytestmark = [pytest.mark.shared, pytest.mark.models]
MAX_MB = 16


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, request):
    from facecloak.paths import shared_dir

    if shared_dir() is None:
        pytest.skip("../shared not found: the daemon tests cloak real photos")
    d = DaemonProcess(tmp_path_factory.mktemp("daemon"), extra_args=("--max-mb", str(MAX_MB)))
    with d:
        yield d


@pytest.fixture(scope="module")
def token(daemon) -> str:
    return daemon.pair("pytest")


@pytest.fixture(scope="module")
def enrolled(daemon, token) -> str:
    """Profile "me", enrolled from deepface/img20 (quick settings)."""
    photo = (daemon_photos() / "deepface" / "img20.jpg").read_bytes()
    status, body = daemon.json("POST", "/v1/enrol?profile=me&strength=low&k=2&steps=10", photo, token=token)
    assert status == 202, body
    job = daemon.wait_job(body["job"], token)
    assert job["state"] == "done", job
    return "me"


def daemon_photos():
    from facecloak.paths import shared_dir

    return shared_dir() / "data" / "photos"


def jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


# -- refusals ------------------------------------------------------------------------
def test_every_route_needs_a_token(daemon, token):
    for method, path in (("GET", "/v1/status"), ("GET", "/v1/settings"), ("POST", "/v1/cloak"),
                         ("POST", "/v1/enrol"), ("GET", "/v1/profiles"), ("GET", "/v1/tokens")):
        status, body = daemon.json(method, path)
        assert status == 401 and body["error"] == "unauthorized", (method, path, body)
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    status, body = daemon.json("GET", "/v1/status", token=wrong)
    assert status == 401
    status, body = daemon.json("GET", "/v1/status", token=token)
    assert status == 200 and body["protocol"] == 1
    from facecloak.paths import lookalike_pool_path

    assert body["lookalike_pool"] is lookalike_pool_path().is_file()  # the daemon shares this model cache


@pytest.mark.parametrize("host", ["evil.example", "evil.example:47733", "127.0.0.1.nip.example", "", "10.0.0.1"])
def test_rebinding_host_gets_421(daemon, token, host):
    status, body = daemon.json("GET", "/v1/status", token=token, headers={"Host": host})
    assert status == 421 and body["error"] == "bad_host"


def test_loopback_names_are_accepted(daemon, token):
    for host in (f"localhost:{daemon.port}", "127.0.0.1", f"[::1]:{daemon.port}"):
        status, _ = daemon.json("GET", "/v1/status", token=token, headers={"Host": host})
        assert status == 200, host


def test_origins(daemon, token):
    # a token paired without an Origin (a local program) accepts none
    status, body = daemon.json("GET", "/v1/status", token=token, headers={"Origin": "https://evil.example"})
    assert status == 403 and body["error"] == "bad_origin"
    # web pages cannot pair at all
    code = daemon.pairing_code()
    status, body = daemon.json("POST", "/v1/pair", {"code": code}, headers={"Origin": "https://evil.example"})
    assert status == 403 and body["error"] == "bad_origin"
    status, body = daemon.json("POST", "/v1/pair", {"code": code}, headers={"Origin": "null"})
    assert status == 403
    # an extension's token works from that extension only
    ext = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
    ext_token = daemon.pair("extension", origin=ext)
    assert daemon.json("GET", "/v1/status", token=ext_token, headers={"Origin": ext})[0] == 200
    status, body = daemon.json("GET", "/v1/status", token=ext_token,
                               headers={"Origin": "chrome-extension://ponmlkjihgfedcbaponmlkjihgfedcba"})
    assert status == 403 and body["error"] == "bad_origin"


def test_no_cors_headers_anywhere(daemon, token):
    for method, path, tok in (("OPTIONS", "/v1/cloak", None), ("GET", "/v1/status", token),
                              ("GET", "/v1/status", None), ("POST", "/v1/pair", None)):
        _, headers, _ = daemon.request(method, path, token=tok, headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert not [h for h in headers if h.startswith("access-control-")], (method, path, headers)


def test_pairing_code_is_one_time_and_rotates_after_wrong_tries(daemon):
    code = daemon.pairing_code()
    assert daemon.json("POST", "/v1/pair", {"code": code.lower().replace("-", "")})[0] == 200
    status, body = daemon.json("POST", "/v1/pair", {"code": code})
    assert status == 403 and body["error"] == "bad_code"
    fresh = daemon.pairing_code()
    assert fresh != code
    for _ in range(5):
        assert daemon.json("POST", "/v1/pair", {"code": "AAAA-AAAA"})[0] == 403
    assert daemon.pairing_code() != fresh  # rotated: the guessed-at code is gone
    assert daemon.json("POST", "/v1/pair", {"code": fresh})[0] == 403
    assert daemon.json("POST", "/v1/pair", b"not json")[0] == 400


def test_tokens_list_and_revoke(daemon, token):
    other = daemon.pair("to-revoke")
    status, body = daemon.json("GET", "/v1/tokens", token=token)
    ids = {t["client"]: t["id"] for t in body["tokens"]}
    assert "to-revoke" in ids and "pytest" in ids
    assert all("digest" not in t and "token" not in t for t in body["tokens"])
    assert daemon.json("DELETE", f"/v1/tokens/{ids['to-revoke']}", token=token)[0] == 204
    assert daemon.json("GET", "/v1/status", token=other)[0] == 401
    assert daemon.json("DELETE", "/v1/tokens/nope", token=token)[0] == 404
    tokens_file = (daemon.root / "data" / "daemon" / "tokens.json").read_text()
    assert token not in tokens_file  # only digests are stored


def test_oversized_body_is_refused_before_it_is_read(daemon, token):
    declared = (MAX_MB + 1) * 1024 * 1024
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=30)
    try:
        sock.sendall((f"POST /v1/cloak HTTP/1.1\r\nHost: 127.0.0.1\r\n{TOKEN_HEADER}: {token}\r\n"
                      f"Content-Type: image/jpeg\r\nContent-Length: {declared}\r\n\r\n").encode())
        sock.sendall(b"\xff\xd8\xff" + bytes(64 * 1024))  # a sliver of the declared body
        reply = sock.recv(4096).decode(errors="replace")
    finally:
        sock.close()
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert '"too_large"' in reply


def test_chunked_body_over_the_cap_is_cut_off(daemon, token):
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=60)
    chunk = b"\xff\xd8\xff" + bytes(1024 * 1024 - 3)

    def body():
        for _ in range(MAX_MB + 2):
            yield chunk

    try:
        conn.request("POST", "/v1/cloak", body=body(), encode_chunked=True,
                     headers={"Host": "127.0.0.1", TOKEN_HEADER: token, "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        assert resp.status == 413 and json.loads(resp.read())["error"] == "too_large"
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon closed the connection at the cap, before the client finished sending
    finally:
        conn.close()


def test_decompression_bomb_gets_413(daemon, token):
    buf = io.BytesIO()
    Image.new("L", (16000, 16000)).save(buf, "PNG")  # 256 MP of zeros, ~250 KB on the wire
    assert len(buf.getvalue()) < 1024 * 1024
    for route in ("/v1/cloak?only_user=0", "/v1/detect"):
        status, body = daemon.json("POST", route, buf.getvalue(), token=token)
        assert status in (409, 413), body
        if status == 413:
            assert body["error"] == "too_many_pixels"
    status, body = daemon.json("POST", "/v1/detect", buf.getvalue(), token=token)
    assert status == 413


@pytest.mark.parametrize("data, status, code", [
    (b"", 400, "bad_request"),
    (b"hello, this is not an image", 415, "unsupported_type"),
    (b"%PDF-1.4\n" + bytes(100), 415, "unsupported_type"),
    (b"\xff\xd8\xff\xe0" + bytes(200), 400, "corrupt_image"),
    (b"\x89PNG\r\n\x1a\n" + bytes(50), 400, "corrupt_image"),
])
def test_undecodable_uploads_get_4xx(daemon, token, data, status, code):
    got, body = daemon.json("POST", "/v1/detect", data, token=token)
    assert (got, body["error"]) == (status, code), body


def test_truncated_jpeg_is_400(daemon, token):
    data = (daemon_photos() / "portrait" / "ai-face.jpg").read_bytes()
    status, body = daemon.json("POST", "/v1/detect", data[: len(data) // 3], token=token)
    assert status == 400 and body["error"] == "corrupt_image"


# -- settings -------------------------------------------------------------------------
def test_settings_defaults_update_and_validation(daemon, token):
    status, settings = daemon.json("GET", "/v1/settings", token=token)
    assert status == 200
    assert settings["sites"]["facebook.com"] == {"enabled": True, "fail": "closed"}
    assert settings["only_user"] is True and settings["strip_gps"] is True
    change = {"sites": {"example.org": {"enabled": True, "fail": "open"}, "x.com": None}, "strength": "high"}
    status, new = daemon.json("PUT", "/v1/settings", change, token=token)
    assert status == 200 and new["sites"]["example.org"]["fail"] == "open" and "x.com" not in new["sites"]
    assert new["strength"] == "high"
    stored = json.loads((daemon.root / "data" / "daemon" / "settings.json").read_text())
    assert stored["sites"]["example.org"] == {"enabled": True, "fail": "open"} and "x.com" not in stored["sites"]
    for bad in ({"strength": "max"}, {"sites": {"not a host!": {"enabled": True}}}, {"nope": 1},
                {"sites": {"a.com": {"enabled": "yes"}}}, {"allow_plaintext_keyring": True}, b"[1, 2]"):
        status, body = daemon.json("PUT", "/v1/settings", bad, token=token)
        assert status == 400, bad
    assert daemon.json("GET", "/v1/settings", token=token)[1] == new  # refused changes changed nothing
    daemon.json("PUT", "/v1/settings", {"strength": "mid", "sites": {"x.com": {"enabled": True}}}, token=token)


# -- enrolment refusals and the cloak ---------------------------------------------------
def test_enrol_refuses_photos_without_exactly_one_usable_face(daemon, token):
    photos = daemon_photos()
    cases = [((photos / "nonface" / "car.jpeg").read_bytes(), "no_face"),
             ((photos / "group" / "couple.jpg").read_bytes(), "many_faces")]
    small = Image.open(photos / "deepface" / "img20.jpg").convert("RGB")
    small.thumbnail((90, 90))
    cases.append((jpeg(np.asarray(small)), "face_too_small"))
    for data, code in cases:
        status, body = daemon.json("POST", "/v1/enrol?profile=bad", data, token=token)
        assert (status, body["error"]) == (422, code), body
    status, body = daemon.json("POST", "/v1/enrol?profile=../x", cases[0][0], token=token)
    assert status == 400
    assert daemon.json("GET", "/v1/status", token=token)[1]["enrolling"] is None


def test_cloak_a_real_photo_of_the_user(daemon, token, enrolled):
    photos = daemon_photos()
    original = (photos / "deepface" / "img21.jpg").read_bytes()  # same person as img20
    status, headers, data = daemon.request("POST", "/v1/cloak", original, token=token)
    assert status == 200, data[:300]
    assert headers["content-type"] == "image/jpeg"
    assert headers["x-facecloak-faces-found"] == "1" and headers["x-facecloak-faces-cloaked"] == "1"
    assert headers["x-facecloak-changed"] == "1" and headers["x-facecloak-profile"] == enrolled
    before, after = decode(original), decode(data)
    assert before.shape == after.shape
    _, faces = daemon.json("POST", "/v1/detect", original, token=token)
    x0, y0, x1, y1 = (int(v) for v in faces["faces"][0]["box"])
    diff = np.abs(after - before)
    inside = diff[y0:y1, x0:x1]
    outside = np.concatenate([diff[: max(0, y0 - 80)].reshape(-1, 3), diff[y1 + 80:].reshape(-1, 3)])
    assert inside.mean() > 1.0  # the face got the mask
    assert inside.max() <= 12 + 16  # low strength's largest budget (stickers), plus JPEG re-encoding
    assert outside.mean() < inside.mean() / 3  # away from the face, only re-encoding noise


def test_cloak_keeps_format_and_size_and_leaves_facefree_photos_alone(daemon, token, enrolled):
    photos = daemon_photos()
    rgb = np.asarray(Image.open(photos / "deepface" / "img21.jpg").convert("RGB"))
    for fmt, ctype in (("PNG", "image/png"), ("WEBP", "image/webp")):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt, **({"quality": 95} if fmt == "WEBP" else {}))
        status, headers, data = daemon.request("POST", "/v1/cloak?only_user=0", buf.getvalue(), token=token)
        assert status == 200 and headers["content-type"] == ctype
        out = Image.open(io.BytesIO(data))
        assert out.format == fmt and out.size == (rgb.shape[1], rgb.shape[0])
        assert headers["x-facecloak-faces-cloaked"] == "1"
    plain = (photos / "nonface" / "car.jpeg").read_bytes()
    status, headers, data = daemon.request("POST", "/v1/cloak?gps=keep", plain, token=token)
    assert status == 200 and data == plain
    assert headers["x-facecloak-faces-found"] == "0" and headers["x-facecloak-changed"] == "0"


def test_only_user_leaves_strangers_alone(daemon, token, enrolled):
    stranger = (daemon_photos() / "deepface" / "img1.jpg").read_bytes()  # not img20's person
    status, headers, data = daemon.request("POST", "/v1/cloak?only_user=1&gps=keep", stranger, token=token)
    assert status == 200 and headers["x-facecloak-faces-found"] == "1"
    assert headers["x-facecloak-faces-cloaked"] == "0" and data == stranger
    status, headers, _ = daemon.request("POST", "/v1/cloak?only_user=0", stranger, token=token)
    assert headers["x-facecloak-faces-cloaked"] == "1"


def test_cloak_a_12_megapixel_photo(daemon, token, enrolled):
    from facecloak.bench.latency import photo_at

    rgb = np.asarray(Image.open(daemon_photos() / "deepface" / "img40.jpg").convert("RGB"))
    data = photo_at(rgb, 12.0)
    status, headers, out = daemon.request("POST", "/v1/cloak?only_user=0", data, token=token)
    assert status == 200 and headers["x-facecloak-faces-cloaked"] == "1"
    assert Image.open(io.BytesIO(out)).size == Image.open(io.BytesIO(data)).size


def test_profiles_listing(daemon, token, enrolled):
    status, body = daemon.json("GET", "/v1/profiles", token=token)
    assert status == 200
    (me,) = [p for p in body["profiles"] if p["name"] == enrolled]
    assert me["strength"] == "low" and "faceplugin" in me["models"]
    assert me["budget"] == {"eps": 4.0, "sticker_eps": 12.0, "highpass_eps": 8.0}
    status, body = daemon.json("GET", "/v1/status", token=token)
    assert body["profiles"] == [enrolled] and body["active_profile"] == enrolled


def test_logs_hold_no_token_or_key(daemon, token, enrolled):
    log = daemon.log()
    assert "POST /v1/cloak" in log  # the access log is there to be checked
    assert token not in log
    keyfile = daemon.root / "xdg" / "python_keyring" / "keyring_pass.cfg"
    cfg = configparser.RawConfigParser()
    cfg.read(keyfile)
    stored = ["".join(v.split()) for _, v in cfg.items("facecloak")]
    keys = stored + [base64.b64decode(v).decode() for v in stored]  # PlaintextKeyring base64s the secret
    assert keys and all(len(k) >= 40 for k in keys) and not any(k in log for k in keys)
    assert "\ufffd" not in log and "JFIF" not in log  # no image bytes
