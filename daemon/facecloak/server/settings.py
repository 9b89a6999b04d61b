"""What the extension asks the daemon to remember: per-site toggles and cloak options.

Stored as JSON in ``<home>/daemon/settings.json`` (owner-only). `merge`
checks every key and type before anything is written, so a bad request
changes nothing. ``allow_plaintext_keyring`` is a setting too, but only the
command line may change it (`HTTP_WRITABLE` leaves it out).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from ..cloak.config import STRENGTHS
from ..errors import FaceCloakError
from ..fileio import write_atomic

#: Social sites enabled on a fresh install (each covers its subdomains).
DEFAULT_SITES = (
    "facebook.com", "instagram.com", "threads.net", "x.com", "twitter.com", "linkedin.com",
    "tiktok.com", "reddit.com", "pinterest.com", "tumblr.com", "flickr.com", "vk.com",
    "bsky.app", "mastodon.social", "snapchat.com", "discord.com", "web.whatsapp.com",
    "web.telegram.org",
)
FAIL_MODES = ("closed", "open")
HTTP_WRITABLE = ("strength", "only_user", "strip_gps", "active_profile", "sites")
_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
                   r"|\d{1,3}(\.\d{1,3}){3}")
MAX_SITES = 500


class SettingsError(FaceCloakError):
    """A settings change with an unknown key or a value of the wrong kind."""


def defaults() -> dict:
    return {
        "strength": "mid",
        "only_user": True,
        "strip_gps": True,
        "active_profile": None,
        "allow_plaintext_keyring": False,
        "sites": {site: {"enabled": True, "fail": "closed"} for site in DEFAULT_SITES},
    }


def _check_site(host: object, entry: object) -> dict | None:
    if not isinstance(host, str) or not _HOST.fullmatch(host):
        raise SettingsError(f"site {host!r} is not a host name (like 'facebook.com')")
    if entry is None:
        return None
    if not isinstance(entry, dict) or set(entry) - {"enabled", "fail"}:
        raise SettingsError(f"site {host!r}: expected {{'enabled': bool, 'fail': 'closed'|'open'}}")
    enabled = entry.get("enabled", True)
    fail = entry.get("fail", "closed")
    if not isinstance(enabled, bool) or fail not in FAIL_MODES:
        raise SettingsError(f"site {host!r}: 'enabled' must be true/false and 'fail' 'closed' or 'open'")
    return {"enabled": enabled, "fail": fail}


def merge(current: dict, change: object, *, writable: tuple[str, ...] = HTTP_WRITABLE) -> dict:
    """A new settings dict: `current` with `change` applied; SettingsError if invalid."""
    if not isinstance(change, dict):
        raise SettingsError("settings must be a JSON object")
    out = copy.deepcopy(current)
    for key, value in change.items():
        if key not in writable:
            known = ", ".join(writable)
            raise SettingsError(f"unknown or read-only setting {key!r} (settable: {known})")
        if key == "strength":
            if value not in STRENGTHS:
                raise SettingsError(f"strength must be one of {', '.join(STRENGTHS)}")
        elif key in ("only_user", "strip_gps", "allow_plaintext_keyring"):
            if not isinstance(value, bool):
                raise SettingsError(f"{key} must be true or false")
        elif key == "active_profile":
            if value is not None and not isinstance(value, str):
                raise SettingsError("active_profile must be a profile name or null")
        elif key == "sites":
            if not isinstance(value, dict):
                raise SettingsError("sites must be an object of host name -> {enabled, fail}")
            sites = out["sites"]
            for host, entry in value.items():
                checked = _check_site(host, entry)
                if checked is None:
                    sites.pop(host, None)
                else:
                    sites[host] = checked
            if len(sites) > MAX_SITES:
                raise SettingsError(f"at most {MAX_SITES} sites")
            continue
        out[key] = value
    return out


def settings_path() -> Path:
    from .. import paths

    return paths.data_home() / "daemon" / "settings.json"


def plaintext_keyring_allowed() -> bool:
    """Whether the user opted in to a plaintext keyring (environment or saved setting)."""
    import os

    if os.environ.get("FACECLOAK_ALLOW_PLAINTEXT_KEYRING") == "1":
        return True
    return bool(SettingsStore(settings_path()).data["allow_plaintext_keyring"])


class SettingsStore:
    def __init__(self, path: Path):
        self.path = path
        self.data = defaults()
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
                data = defaults()
                if isinstance(stored, dict) and isinstance(stored.get("sites"), dict):
                    data["sites"] = {}  # the stored list is the whole list: removed sites stay removed
                self.data = merge(data, stored, writable=tuple(defaults()))
            except (ValueError, SettingsError):
                pass  # a damaged file falls back to the defaults; the next change rewrites it

    def update(self, change: object, *, writable: tuple[str, ...] = HTTP_WRITABLE) -> dict:
        new = merge(self.data, change, writable=writable)
        write_atomic(self.path, json.dumps(new, indent=1, sort_keys=True).encode())
        self.data = new
        return copy.deepcopy(new)

    def public(self) -> dict:
        return copy.deepcopy(self.data)
