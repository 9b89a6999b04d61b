"""The lab notebook's table: one row per method of each privacy-benchmark run named.

    python benchmarks/ablation/table.py RUN_DIR [RUN_DIR ...] > benchmarks/ablation/table.md

Each RUN_DIR holds a `results.json` written by `facecloak bench privacy`.
A row: the run and its commit, the method, its strength and `--set`
overrides, black-box and surrogate PSR@1 / PSR@5 (%, realistic scoring, as
uploaded), the same for the models that are neither (MobileFace, under the
accuracy bar for a default black box), black-box PSR@1 / PSR@5
after the harshest path the run measured (JPEG q75 after a 1080 px
downscale, else JPEG q75), face SSIM and photo PSNR of the cloaked probes,
and the median enrolment seconds. A run whose lever its results cannot
record (an environment variable, a one-line edit) says it in `lever.txt`
beside `results.json`; the `--set` cell shows it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HARSH = ("resize1080+jpeg75", "jpeg75")


def _pair(group: dict | None) -> str:
    if not group:
        return "—"
    return f"{100 * group['psr1']:.0f} / {100 * group['psr5']:.0f}"


def rows(run_dir: Path) -> list[str]:
    doc = json.loads((run_dir / "results.json").read_text())
    out = []
    for name, m in doc["methods"].items():
        scores = m["scores"]
        up = scores["uploaded"]["groups"]
        harsh = next((v for v in HARSH if v in scores), None)
        harsh_cell = f"{_pair(scores[harsh]['groups']['black box'])} ({harsh})" if harsh else "—"
        strength = (m.get("config") or {}).get("strength") or m.get("strength")
        sets = [f"strength={strength}"] if strength not in (None, "mid") else []
        sets += [f"{k}={v}" for k, v in (m.get("overrides") or {}).items()]
        if (run_dir / "lever.txt").exists():  # a lever the results cannot record (an edit, a variable)
            sets.append((run_dir / "lever.txt").read_text().strip())
        q = m.get("quality") or {}
        ssim = q.get("cloak_face_ssim", {}).get("mean")
        psnr = q.get("cloak_photo_psnr", {}).get("mean")
        enrol = (m.get("speed") or {}).get("enrol_seconds", {}).get("median")
        out.append(" | ".join([
            f"| {run_dir.name}", doc["meta"]["commit"][:7], name, ", ".join(sets) or "—", _pair(up["black box"]),
            _pair(up["surrogate"]), _pair(up.get("other")), harsh_cell,
            "—" if ssim is None else f"{ssim:.3f}", "—" if psnr is None else f"{psnr:.1f}",
            "—" if enrol is None else f"{enrol:.0f}",
        ]) + " |")
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    print("| run | commit | method | --set | black box PSR@1 / @5 | surrogate PSR@1 / @5 | other PSR@1 / @5 "
          "| black box after harsh path | face SSIM | photo PSNR (dB) | enrol s (median) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for arg in argv:
        for row in rows(Path(arg)):
            print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
