"""A throwaway `facecloak serve` in a subprocess on a free loopback port (tests, benchmarks).

    with DaemonProcess(tmp_path) as daemon:
        token = daemon.pair()
        status, headers, body = daemon.request("GET", "/v1/status", token=token)

Its files go under ``root`` (FACECLOAK_DATA); models come from the normal
cache. Keys go to keyrings.alt's PlaintextKeyring, with its file under
``root`` too: the file-based backend a headless Linux box gets, which the
daemon accepts only because it is started with --allow-plaintext-keyring.
Never point `root` at a real user's folder: it is for disposable daemons.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

TOKEN_HEADER = "X-FaceCloak-Token"


def _die_with_parent() -> None:  # runs in the child before exec (Linux): SIGTERM when we die
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonProcess:
    def __init__(self, root: Path, port: int | None = None, extra_args: tuple[str, ...] = ()):
        self.root = Path(root)
        self.port = port or free_port()
        self.extra_args = extra_args
        self.proc: subprocess.Popen | None = None
        self.log_path = self.root / "daemon.log"

    @property
    def env(self) -> dict:
        env = dict(os.environ)
        env.update(FACECLOAK_DATA=str(self.root / "data"), XDG_DATA_HOME=str(self.root / "xdg"),
                   PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring", PYTHONUNBUFFERED="1")
        return env

    def start(self, timeout: float = 180.0) -> DaemonProcess:
        cmd = [sys.executable, "-m", "facecloak", "serve", "--port", str(self.port),
               "--allow-plaintext-keyring", *self.extra_args]
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self._log = log
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                status, _, _ = self.request("GET", "/v1/status")
                if status == 401:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"daemon did not start within {timeout} s:\n{self.log()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self.proc is not None:
            self._log.close()
        self.proc = None

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def workers(self) -> list[int]:
        """PIDs of the daemon's worker processes (Linux /proc; multiprocessing's tracker left out)."""
        if self.proc is None:
            return []
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parent = int(fh.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    tracker = b"resource_tracker" in fh.read()
            except (OSError, ValueError, IndexError):
                continue
            if parent == self.proc.pid and not tracker:
                out.append(int(entry))
        return sorted(out)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pairing_code(self) -> str:
        return (self.root / "data" / "daemon" / "pairing-code").read_text().strip()

    def request(self, method: str, path: str, body: bytes | dict | None = None, *, token: str | None = None,
                headers: dict | None = None, timeout: float = 300.0) -> tuple[int, dict, bytes]:
        """One HTTP request; returns (status, headers with lower-case names, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = {"Host": f"127.0.0.1:{self.port}"}
        if token:
            hdrs[TOKEN_HEADER] = token
        if isinstance(body, dict):
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, body=None, *, token: str | None = None, **kw) -> tuple[int, object]:
        status, _, data = self.request(method, path, body, token=token, **kw)
        return status, (json.loads(data) if data else None)

    def pair(self, client: str = "tests", origin: str | None = None) -> str:
        headers = {"Origin": origin} if origin else None
        status, body = self.json("POST", "/v1/pair", {"code": self.pairing_code(), "client": client},
                                 headers=headers)
        assert status == 200, body
        return body["token"]

    def wait_job(self, job_id: str, token: str, timeout: float = 600.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, job = self.json("GET", f"/v1/jobs/{job_id}", token=token)
            assert status == 200, job
            if job["state"] not in ("queued", "running"):
                return job
            time.sleep(0.5)
        raise TimeoutError(f"job {job_id} still running after {timeout} s")
