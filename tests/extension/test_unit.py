"""The extension's own unit tests (node's built-in runner), run as part of the one test command."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "extension"


def test_extension_unit_tests_pass():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found: the extension's unit tests run on Node.js >= 20")
    run = subprocess.run([node, "--test", "test/"], cwd=EXTENSION, capture_output=True, text=True, timeout=600)
    summary = dict(re.findall(r"^# (tests|pass|fail) (\d+)$", run.stdout, re.MULTILINE))
    assert run.returncode == 0 and summary.get("fail") == "0", run.stdout[-4000:] + run.stderr[-2000:]
    assert int(summary.get("pass", 0)) >= 30, summary  # the suite really ran
