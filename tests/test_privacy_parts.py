"""A privacy-benchmark run cut into parts (--part I/N) and joined (--join) is the whole run.

Three LFW users, 30 distractors, uniform noise (seeded per user, so a user's
probes get the same mask in any part) and two fast FR models: the joined
report must give every probe the ranks the unsplit run gave it, and the join
must refuse parts that are not one run.
"""

import json
import shutil

import numpy as np
import pytest

from facecloak.bench.privacy_parts import parse_part, part_users
from facecloak.errors import FaceCloakError

USERS = ["Ian_Thorpe", "Jason_Kidd", "John_Negroponte"]


def test_parts_cover_every_user_once():
    parts = [part_users(7, (i, 3)) for i in range(3)]
    assert sorted(u for p in parts for u in p) == list(range(7))
    assert parts[0] == {0, 3, 6}
    assert parse_part("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "1", "a/b"):
        with pytest.raises(FaceCloakError, match="--part"):
            parse_part(bad)


@pytest.mark.shared
def test_joined_parts_score_as_the_whole_run(lfw, tmp_path):
    from facecloak.bench import privacy

    common = dict(users=USERS, distractors=30, methods=["uniform", "none"], models=["mobilefacenet", "faceplugin"],
                  variants=["uploaded"], idealised=False, latency=False, cache_dir=tmp_path / "cache",
                  progress=False, thresholds=tmp_path / "absent.json", lfw=lfw)
    whole = privacy.run(tmp_path / "whole", **common)
    for i in range(2):
        doc = privacy.run(tmp_path / f"p{i}", part=(i, 2), **{**common, "methods": ["uniform"]})
        assert doc["users"] == ([0, 2] if i == 0 else [1]) and doc["saved"] == ["uniform"]
        assert not (tmp_path / f"p{i}" / "report.md").exists()
    # A method run later into the same folders joins the same run.
    for i in range(2):
        doc = privacy.run(tmp_path / f"p{i}", part=(i, 2), **{**common, "methods": ["none"]})
        assert doc["saved"] == ["none", "uniform"]
    with pytest.raises(FaceCloakError, match="another part"):
        privacy.run(tmp_path / "p0", part=(1, 2), **common)
    parts = [tmp_path / "p1", tmp_path / "p0"]  # any order
    joined = privacy.run(tmp_path / "joined", join=parts, **common)

    assert joined["protocol"] == whole["protocol"]
    for name in ("uniform", "none"):
        w, j = whole["methods"][name], joined["methods"][name]
        assert j["scores"] == w["scores"]
        assert j["quality"] == w["quality"] and j["mask_linf"] == w["mask_linf"]
    a, b = np.load(tmp_path / "whole" / "per_probe.npz"), np.load(tmp_path / "joined" / "per_probe.npz")
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert [p["part"] for p in joined["meta"]["joined_parts"]] == [[1, 2], [0, 2]]
    part_seconds = [json.loads((d / "part.json").read_text())["timings"]["method_none"] for d in parts]
    assert joined["timings"]["method_none"] == pytest.approx(sum(part_seconds)) and min(part_seconds) > 0
    report = (tmp_path / "joined" / "report.md").read_text()
    assert report.startswith("# Privacy benchmark") and "Joined from 2 parts" in report

    with pytest.raises(FaceCloakError, match="exactly once"):
        privacy.run(tmp_path / "bad", join=[tmp_path / "p0"], **common)
    with pytest.raises(FaceCloakError, match="not in part"):
        privacy.run(tmp_path / "bad", join=parts, **{**common, "methods": ["opom-centre"]})
    other = tmp_path / "p1-other-seed"
    shutil.copytree(tmp_path / "p1", other)
    doc = json.loads((other / "part.json").read_text())
    doc["meta"]["seed"] = 1
    (other / "part.json").write_text(json.dumps(doc))
    with pytest.raises(FaceCloakError, match="seed"):
        privacy.run(tmp_path / "bad", join=[tmp_path / "p0", other], **common)
