"""Fixtures shared by the test files."""

from pathlib import Path

import pytest

from facecloak.paths import shared_dir as find_shared_dir


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder, or skip the test that needs it."""
    path = find_shared_dir()
    if path is None:
        pytest.skip("../shared not found: real photos and YuNet are needed for this test")
    return path


@pytest.fixture(scope="session")
def photos_dir(shared_dir: Path) -> Path:
    """``shared/data/photos``: deepface/, group/, nonface/, portrait/."""
    return shared_dir / "data" / "photos"


@pytest.fixture
def memory_keyring():
    """An in-process keyring (tests/memory_keyring.py) as keyring's backend for one test."""
    import keyring

    from memory_keyring import MemoryKeyring

    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
