"""`facecloak serve`, `facecloak pair` and `facecloak tokens`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .. import paths
from ..errors import FaceCloakError


def _daemon_dir() -> Path:
    return paths.data_home() / "daemon"


def cmd_serve(args) -> int:
    """Run the local daemon that the extension talks to (Ctrl-C stops it)."""
    from aiohttp import web

    from .app import make_app
    from .state import Daemon, ServerConfig
    from .tokens import format_code

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    from .settings import plaintext_keyring_allowed

    allow = args.allow_plaintext_keyring or plaintext_keyring_allowed()
    config = ServerConfig(port=args.port, max_bytes=args.max_mb * 1024 * 1024,
                          max_pixels=int(args.max_megapixels * 1_000_000), workers=args.workers,
                          allow_plaintext_keyring=allow)
    if args.allow_plaintext_keyring:  # remembered, so that the CLI's own commands agree
        from .settings import SettingsStore, settings_path

        SettingsStore(settings_path()).update({"allow_plaintext_keyring": True},
                                              writable=("allow_plaintext_keyring",))
    daemon = Daemon(config)
    app = make_app(daemon)
    print(f"FaceCloak daemon on http://127.0.0.1:{args.port}/  (keyring: {daemon.keyring_name})", flush=True)
    print(f"pairing code: {format_code(daemon.pairing.code)}  (shown again by `facecloak pair`)", flush=True)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, handle_signals=True,
                access_log_format='%a "%r" %s %b %Tfs')
    return 0


def cmd_pair(args) -> int:
    """Show the daemon's current one-time pairing code."""
    path = _daemon_dir() / "pairing-code"
    if not path.is_file():
        raise FaceCloakError("no pairing code yet: start the daemon with `facecloak serve`")
    print(path.read_text().strip())
    return 0


def cmd_tokens_list(args) -> int:
    from .tokens import TokenStore

    records = TokenStore(_daemon_dir() / "tokens.json").list()
    if not records:
        print("no paired clients")
    for r in records:
        print(f"{r.id}  {r.client:30.30}  paired {r.created}  last used {r.last_used or 'never'}"
              f"  {r.origin or '(local program)'}")
    return 0


def cmd_tokens_revoke(args) -> int:
    from .tokens import TokenStore

    if not TokenStore(_daemon_dir() / "tokens.json").revoke(args.id):
        raise FaceCloakError(f"no token with id {args.id!r}; see `facecloak tokens list`")
    print(f"revoked {args.id}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from .state import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_PORT

    p = sub.add_parser("serve", help="run the local daemon for the browser extension",
                       description=cmd_serve.__doc__ + " It listens on 127.0.0.1 only.")
    p.add_argument("--port", type=int, default=int(os.environ.get("FACECLOAK_PORT", DEFAULT_PORT)),
                   help=f"port on 127.0.0.1 (default {DEFAULT_PORT}, or FACECLOAK_PORT)")
    p.add_argument("--workers", type=int, metavar="N", help="cloak worker processes (default: half the CPUs, "
                   "at most 4)")
    p.add_argument("--max-mb", type=int, default=DEFAULT_MAX_BYTES // (1024 * 1024),
                   help="largest upload in MiB (default %(default)s)")
    p.add_argument("--max-megapixels", type=float, default=DEFAULT_MAX_PIXELS / 1e6,
                   help="largest image in megapixels (default %(default)s)")
    p.add_argument("--allow-plaintext-keyring", action="store_true",
                   help="accept a keyring backend that stores keys in a plain file (e.g. on a headless "
                        "Linux box without gnome-keyring); the masks stay encrypted, but their keys do not")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("pair", help="show the daemon's one-time pairing code", description=cmd_pair.__doc__)
    p.set_defaults(func=cmd_pair)

    p = sub.add_parser("tokens", help="list or revoke the clients paired with the daemon")
    tsub = p.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    q = tsub.add_parser("list", help="every paired client")
    q.set_defaults(func=cmd_tokens_list)
    q = tsub.add_parser("revoke", help="revoke a client's token")
    q.add_argument("id", metavar="ID", help="token id from `facecloak tokens list`")
    q.set_defaults(func=cmd_tokens_revoke)
