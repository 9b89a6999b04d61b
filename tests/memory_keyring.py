"""A real keyring backend that keeps secrets in a dict, for tests.

It goes through keyring's own machinery (`keyring.set_keyring`,
`keyring.get_password`, the username check on `set_password`), unlike a mock.
`viable = False` keeps keyring's auto-detection from ever choosing it; its
priority (1) is what FaceCloak's keyring check reads.
"""

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """Secrets in ``self.secrets``: (service, username) -> password."""

    priority = 1
    viable = False

    def __init__(self):
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.secrets.get((service, username))

    def set_password(self, service, username, password):
        self.secrets[(service, username)] = password

    def delete_password(self, service, username):
        try:
            del self.secrets[(service, username)]
        except KeyError:
            raise PasswordDeleteError("no such password") from None
