"""The local daemon: an aiohttp service on 127.0.0.1 that enrols and cloaks (daemon/PROTOCOL.md).

Modules: app (routes), security (Host/token/Origin checks), state (Daemon),
workers (cloak process pool), enrol_worker (enrolment process), jobs,
tokens (pairing), settings, http_errors, cli (serve/pair/tokens).
"""
