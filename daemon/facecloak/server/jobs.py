"""Background jobs (enrolments): state, progress subscribers, and their records on disk.

A job's record is rewritten (atomically) whenever its state changes, so after
a restart the daemon knows which jobs were cut off: any record still
``queued`` or ``running`` is marked ``failed``. The profile itself is only
written when a job ends ``done``, so a cut-off job never leaves half a
profile behind.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..fileio import write_atomic

ACTIVE = ("queued", "running")
RESTART_ERROR = "the daemon stopped during this enrolment; enrol again"
KEEP_FINISHED = 50


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Job:
    id: str
    kind: str
    profile: str
    state: str = "queued"
    stage: str = "queued"
    percent: float = 0.0
    eta_s: float | None = None
    message: str = ""
    error: str | None = None
    created: str = field(default_factory=_now)
    finished: str | None = None
    started: float = field(default_factory=time.monotonic, repr=False)

    def public(self) -> dict:
        out = asdict(self)
        del out["started"]
        return out

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class JobBoard:
    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {}
        self._subscribers: dict[str, set[asyncio.Queue]] = {}
        self._load()

    def _load(self) -> None:
        records = []
        for path in self.folder.glob("*.json"):
            try:
                data = json.loads(path.read_text())
                data.pop("started", None)
                records.append(Job(**data))
            except (OSError, ValueError, TypeError):
                path.unlink(missing_ok=True)
        for job in sorted(records, key=lambda j: j.created):
            if job.active:
                job.state, job.error, job.finished = "failed", RESTART_ERROR, _now()
                job.message = RESTART_ERROR
                self._save(job)
            self.jobs[job.id] = job

    def _save(self, job: Job) -> None:
        write_atomic(self.folder / f"{job.id}.json", json.dumps(job.public()).encode())

    def _prune(self) -> None:
        finished = sorted((j for j in self.jobs.values() if not j.active), key=lambda j: j.created)
        for job in finished[:-KEEP_FINISHED]:
            self.jobs.pop(job.id, None)
            (self.folder / f"{job.id}.json").unlink(missing_ok=True)

    def create(self, kind: str, profile: str) -> Job:
        job = Job(secrets.token_hex(8), kind, profile)
        self.jobs[job.id] = job
        self._save(job)
        self._prune()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def running(self) -> Job | None:
        return next((j for j in self.jobs.values() if j.active), None)

    def progress(self, job: Job, fraction: float, message: str) -> None:
        stage = message.split(":", 1)[0].strip() or job.stage
        if job.state == "queued":
            job.state = "running"
            job.started = time.monotonic()
            self._save(job)
        job.stage, job.message = stage, message
        job.percent = round(100.0 * max(job.percent / 100.0, min(1.0, float(fraction))), 1)
        elapsed = time.monotonic() - job.started
        f = job.percent / 100.0
        job.eta_s = round(elapsed * (1.0 - f) / f, 1) if f >= 0.1 else None
        self._publish(job)

    def finish(self, job: Job, state: str, error: str | None = None, message: str | None = None) -> None:
        job.state, job.error, job.finished = state, error, _now()
        if state == "done":
            job.stage, job.percent, job.eta_s = "done", 100.0, 0.0
        else:
            job.eta_s = None
        job.message = message or error or state
        self._save(job)
        self._publish(job)

    # -- server-sent events -------------------------------------------------
    def subscribe(self, job: Job) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=256)
        self._subscribers.setdefault(job.id, set()).add(queue)
        return queue

    def unsubscribe(self, job: Job, queue: asyncio.Queue) -> None:
        self._subscribers.get(job.id, set()).discard(queue)

    def _publish(self, job: Job) -> None:
        snapshot = job.public()
        for queue in list(self._subscribers.get(job.id, ())):
            if queue.full():  # a slow reader misses intermediate steps, never the end
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            queue.put_nowait(snapshot)
