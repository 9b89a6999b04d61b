"""Enrolment jobs on the real daemon: progress events, cancel, restarts, deleting a profile."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from daemon_process import TOKEN_HEADER, DaemonProcess

pytestmark = [pytest.mark.shared, pytest.mark.models]
QUICK = "strength=low&k=2&steps=10"


@pytest.fixture
def daemon(tmp_path):
    from facecloak.paths import shared_dir

    if shared_dir() is None:
        pytest.skip("../shared not found: enrolment needs a real photo")
    d = DaemonProcess(tmp_path)
    with d:
        yield d


def selfie() -> bytes:
    from facecloak.paths import shared_dir

    return (shared_dir() / "data" / "photos" / "deepface" / "img20.jpg").read_bytes()


def read_events(daemon: DaemonProcess, job_id: str, token: str, stop_after: int | None = None) -> list[tuple]:
    """(event, data) pairs from the job's event stream, read like the extension does (a plain GET)."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=300)
    conn.request("GET", f"/v1/jobs/{job_id}/events", headers={"Host": "127.0.0.1", TOKEN_HEADER: token})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
    events, event = [], None
    try:
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
                if event == "end" or (stop_after is not None and len(events) >= stop_after):
                    break
    finally:
        conn.close()
    return events


def test_enrolment_job_reports_progress_to_the_end(daemon):
    token = daemon.pair()
    status, body = daemon.json("POST", f"/v1/enrol?profile=alice&{QUICK}", selfie(), token=token)
    assert status == 202
    events = read_events(daemon, body["job"], token)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "end" and set(kinds[:-1]) <= {"progress"}
    percents = [d["percent"] for _, d in events]
    assert percents == sorted(percents) and percents[-1] == 100.0
    stages = [d["stage"] for _, d in events]
    assert "optimise" in stages and events[-1][1]["state"] == "done"
    assert any(d["eta_s"] is not None for _, d in events[:-1] if d["stage"] == "optimise")
    status, job = daemon.json("GET", f"/v1/jobs/{body['job']}", token=token)
    assert job["state"] == "done" and job["finished"]
    names = [p["name"] for p in daemon.json("GET", "/v1/profiles", token=token)[1]["profiles"]]
    assert names == ["alice"]


def test_cancel_busy_and_a_client_that_goes_away(daemon):
    token = daemon.pair()
    status, body = daemon.json("POST", "/v1/enrol?profile=slow&strength=low&k=2&steps=5000", selfie(), token=token)
    assert status == 202
    job_id = body["job"]
    first = read_events(daemon, job_id, token, stop_after=2)  # then hang up mid-stream
    assert first and first[0][0] == "progress"
    status, body = daemon.json("POST", f"/v1/enrol?profile=other&{QUICK}", selfie(), token=token)
    assert status == 409 and body["error"] == "busy"
    time.sleep(1.0)
    status, job = daemon.json("GET", f"/v1/jobs/{job_id}", token=token)
    assert job["state"] in ("queued", "running")  # the job outlived its reader
    assert daemon.json("DELETE", f"/v1/jobs/{job_id}", token=token)[0] == 202
    job = daemon.wait_job(job_id, token, timeout=120)
    assert job["state"] == "cancelled"
    assert daemon.json("GET", "/v1/profiles", token=token)[1]["profiles"] == []
    assert daemon.json("GET", "/v1/jobs/nope", token=token)[0] == 404


def test_restart_keeps_profiles_and_fails_cut_off_jobs(daemon):
    token = daemon.pair()
    status, body = daemon.json("POST", f"/v1/enrol?profile=me&{QUICK}", selfie(), token=token)
    assert daemon.wait_job(body["job"], token)["state"] == "done"
    status, body = daemon.json("POST", "/v1/enrol?profile=cut&strength=low&k=2&steps=5000", selfie(), token=token)
    cut = body["job"]
    read_events(daemon, cut, token, stop_after=3)  # it is running
    daemon.stop()
    daemon.start()
    status, job = daemon.json("GET", f"/v1/jobs/{cut}", token=token)  # the token survived too
    assert status == 200 and job["state"] == "failed" and "daemon stopped" in job["error"]
    profiles = [p["name"] for p in daemon.json("GET", "/v1/profiles", token=token)[1]["profiles"]]
    assert profiles == ["me"]  # no half-written "cut"
    status, headers, _ = daemon.request("POST", "/v1/cloak?only_user=0", selfie(), token=token)
    assert status == 200 and headers["x-facecloak-faces-cloaked"] == "1"


def test_deleting_a_profile_removes_file_and_key(daemon):
    import base64
    import configparser

    token = daemon.pair()
    status, body = daemon.json("POST", f"/v1/enrol?profile=gone&{QUICK}", selfie(), token=token)
    assert daemon.wait_job(body["job"], token)["state"] == "done"
    folder = daemon.root / "data" / "profiles"
    keyfile = daemon.root / "xdg" / "python_keyring" / "keyring_pass.cfg"

    def keys() -> dict:
        cfg = configparser.RawConfigParser()
        cfg.read(keyfile)
        return dict(cfg.items("facecloak")) if cfg.has_section("facecloak") else {}

    assert [p.name for p in folder.iterdir()] == ["gone.fcsealed"] and len(keys()) == 1
    sealed = (folder / "gone.fcsealed").read_bytes()
    key = base64.b64decode("".join(next(iter(keys().values())).split()))
    assert key not in sealed
    assert daemon.json("DELETE", "/v1/profiles/gone", token=token)[0] == 204
    assert list(folder.iterdir()) == [] and keys() == {}
    status, body = daemon.json("POST", "/v1/cloak", selfie(), token=token)
    assert status == 409 and body["error"] == "no_profile"
    assert daemon.json("DELETE", "/v1/profiles/gone", token=token)[0] == 404


def test_killed_workers_are_replaced(daemon):
    import os
    import signal

    token = daemon.pair()
    status, body = daemon.json("POST", f"/v1/enrol?profile=me&{QUICK}", selfie(), token=token)
    assert daemon.wait_job(body["job"], token)["state"] == "done"
    kids = daemon.workers()
    assert len(kids) >= 2  # the enrolment worker and at least one cloak worker
    status, body = daemon.json("POST", "/v1/enrol?profile=doomed&strength=low&k=2&steps=5000", selfie(), token=token)
    doomed = body["job"]
    read_events(daemon, doomed, token, stop_after=3)
    for pid in kids:  # every worker: the enrolment one and the cloak pool's
        os.kill(pid, signal.SIGKILL)
    job = daemon.wait_job(doomed, token, timeout=60)
    assert job["state"] == "failed" and "stopped unexpectedly" in job["error"]
    answers = []
    for _ in range(3):  # the first may meet the broken pool (503); a new pool then serves
        status, headers, _ = daemon.request("POST", "/v1/cloak?only_user=0", selfie(), token=token)
        answers.append(status)
        if status == 200:
            break
    assert answers[-1] == 200 and set(answers) <= {200, 503}, answers
    status, body = daemon.json("POST", f"/v1/enrol?profile=again&{QUICK}", selfie(), token=token)
    assert status == 202 and daemon.wait_job(body["job"], token)["state"] == "done"



def test_workers_do_not_outlive_a_killed_daemon(daemon):
    import os
    import signal

    kids = daemon.workers()
    assert len(kids) >= 2
    os.kill(daemon.proc.pid, signal.SIGKILL)
    daemon.proc.wait(timeout=30)

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            return False

    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in kids) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert not [pid for pid in kids if alive(pid)]
