"""The command line, run as a user would: a real subprocess of `python -m facecloak`."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None):
    full_env = {**os.environ, "PYTHONPATH": f"{ROOT / 'daemon'}{os.pathsep}{ROOT / 'exporter'}", **(env or {})}
    return subprocess.run([sys.executable, "-m", "facecloak", *args], capture_output=True, text=True,
                          env=full_env, timeout=600)


def test_help_lists_every_command():
    out = run("--help")
    assert out.returncode == 0
    for command in ("check", "models", "faces", "bench"):
        assert command in out.stdout


def test_models_list_shows_roles():
    out = run("models", "list")
    assert out.returncode == 0
    assert "surrogate FR" in out.stdout and "black-box FR" in out.stdout and "facenet-casia" in out.stdout


def test_unknown_model_is_a_clear_error():
    out = run("models", "fetch", "no-such-model")
    assert out.returncode == 2
    assert "unknown model 'no-such-model'" in out.stderr and "Traceback" not in out.stderr


def test_faces_on_a_non_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a photo")
    out = run("faces", str(bad))
    assert out.returncode == 2 and "Traceback" not in out.stderr and "error" in out.stderr


@pytest.mark.models
def test_check_fetches_converts_and_finds_the_bundled_face():
    out = run("check", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(report["faces"]) == 1 and report["size"] == [512, 512]
    x0, y0, x1, y1 = report["faces"][0]["box"]
    assert 150 < (x0 + x1) / 2 < 300 and 50 < (y0 + y1) / 2 < 200  # the astronaut's face
