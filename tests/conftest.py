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


@pytest.fixture(scope="session")
def lfw(shared_dir: Path) -> Path:
    """``shared/data/lfw`` (LFW deep-funneled, pairs.txt), or skip."""
    root = shared_dir / "data" / "lfw"
    if not (root / "pairs.txt").is_file():
        pytest.skip("../shared/data/lfw not found")
    return root


@pytest.fixture
def use_keyring():
    """install(backend): make it keyring's active backend until the test ends."""
    import keyring

    previous = keyring.get_keyring()

    def install(backend):
        keyring.set_keyring(backend)
        return backend

    yield install
    keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring(use_keyring):
    """An in-process keyring (tests/memory_keyring.py) as keyring's backend for one test."""
    from memory_keyring import MemoryKeyring

    return use_keyring(MemoryKeyring())
