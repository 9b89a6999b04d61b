"""The daemon's state: configuration, stores, workers, and their start and stop.

    >>> daemon = Daemon(ServerConfig(port=0))
    >>> app = make_app(daemon)          # server/app.py; on_startup starts the workers

Files, under ``<home>/daemon/`` (home: `paths.data_home()`) (owner-only): ``pairing-code``,
``tokens.json``, ``settings.json``, ``jobs/``. Profiles are sealed files
under ``<home>/profiles/`` with their keys in the OS keyring.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import paths
from ..cloak.threads import usable_cpus
from .enrol_worker import EnrolRunner
from .jobs import JobBoard
from .settings import SettingsStore
from .tokens import PairingCode, TokenStore
from .workers import CloakPool

log = logging.getLogger("facecloak.server")

DEFAULT_PORT = 47733
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000


def default_workers() -> tuple[int, int, int]:
    """(cloak workers, threads per cloak worker, enrolment threads) for this machine."""
    cpus = usable_cpus()
    workers = max(1, min(4, cpus // 2))
    return workers, max(1, (cpus // 2) // workers), max(1, cpus // 2)


@dataclass
class ServerConfig:
    port: int = DEFAULT_PORT
    home: Path = field(default_factory=paths.data_home)
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    workers: int | None = None
    allow_plaintext_keyring: bool = False


class Daemon:
    def __init__(self, config: ServerConfig):
        from ..cloak.secure_profiles import SecureProfileStore
        from ..vault import check_keyring

        self.config = config
        root = Path(config.home) / "daemon"
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        self.settings = SettingsStore(root / "settings.json")
        allow = config.allow_plaintext_keyring or self.settings.data["allow_plaintext_keyring"]
        self.keyring_name = check_keyring(allow)  # KeyringRefusedError: the CLI says why and stops
        self.profiles = SecureProfileStore(Path(config.home) / "profiles", allow_plaintext_keyring=allow)
        self.tokens = TokenStore(root / "tokens.json")
        self.pairing = PairingCode(root / "pairing-code")
        self.jobs = JobBoard(root / "jobs")
        workers, threads, enrol_threads = default_workers()
        self.pool = CloakPool(config.workers or workers, threads)
        self.enroller = EnrolRunner(enrol_threads, self._on_enrol_event)
        self._profile_cache: dict[str, object] = {}
        self._pending: dict[str, dict] = {}  # job id -> {"config": ...} until saved
        self.bound_port: int | None = None

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        self.enroller.start()
        await self.pool.start()

    async def stop(self) -> None:
        self.tokens.flush()
        self.enroller.close()
        await asyncio.get_running_loop().run_in_executor(None, self.pool.close)

    # -- profiles ------------------------------------------------------------
    def profile_names(self) -> list[str]:
        return [info.name for info in self.profiles.list() if info.problem is None]

    async def load_profile(self, name: str):
        if name not in self._profile_cache:
            loop = asyncio.get_running_loop()
            self._profile_cache[name] = await loop.run_in_executor(None, self.profiles.load, name)
        return self._profile_cache[name]

    async def delete_profile(self, name: str) -> None:
        self._profile_cache.pop(name, None)
        await asyncio.get_running_loop().run_in_executor(None, self.profiles.delete, name)
        if self.settings.data.get("active_profile") == name:
            self.settings.update({"active_profile": None})

    def default_profile(self) -> str | None:
        active = self.settings.data.get("active_profile")
        names = self.profile_names()
        if active in names:
            return active
        return names[0] if len(names) == 1 else None

    # -- enrolment events (on the event loop) ---------------------------------
    def _on_enrol_event(self, event: tuple) -> None:
        kind, job_id = event[0], event[1]
        job = self.jobs.get(job_id)
        if job is None:
            return
        if kind == "progress":
            if job.active:
                self.jobs.progress(job, event[2], event[3])
        elif kind == "cancelled":
            self.jobs.finish(job, "cancelled", message="cancelled")
        elif kind == "failed":
            self.jobs.finish(job, "failed", error=event[2])
        elif kind == "done":
            asyncio.get_running_loop().create_task(self._save_enrolment(job, event[2]))

    async def _save_enrolment(self, job, result: dict) -> None:
        from ..cloak.mask import CloakMask

        try:
            mask = CloakMask.from_bytes(result["mask"])
            embeddings = {k: np.asarray(v, np.float32) for k, v in result["embeddings"].items()}
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, lambda: self.profiles.save(
                job.profile, mask=mask, embeddings=embeddings, meta=result["meta"], overwrite=True))
        except Exception as exc:
            log.exception("saving profile %r failed", job.profile)
            self.jobs.finish(job, "failed", error=f"the profile could not be saved: {exc}")
            return
        self._profile_cache.pop(job.profile, None)
        if self.default_profile() is None or self.settings.data.get("active_profile") is None:
            self.settings.update({"active_profile": job.profile})
        self.jobs.finish(job, "done", message=f"done: profile {job.profile!r} saved")
