"""``facecloak bench enrol``: times real enrolments and reports them (needs ../shared)."""

import json

from facecloak.cli import main


def test_bench_enrol_times_each_portrait_and_reports_the_median(photos_dir, tmp_path):
    folder = tmp_path / "portraits"
    folder.mkdir()
    for name in ("ai-face.jpg", "person-linda.jpg"):  # links, not copies, of the shared photos
        (folder / name).symlink_to(photos_dir / "portrait" / name)
    from facecloak.bench import enrol_time

    doc = enrol_time.run(tmp_path / "out", repeats=2, overrides={"steps": 1, "k": 2}, folder=folder)
    rows = doc["enrolments"]
    assert [(r["photo"], r["repeat"]) for r in rows] == [
        ("ai-face.jpg", 0), ("person-linda.jpg", 0), ("ai-face.jpg", 1), ("person-linda.jpg", 1)]
    seconds = sorted(r["seconds"] for r in rows)
    assert seconds[0] > 0 and doc["seconds"]["min"] == seconds[0] and doc["seconds"]["max"] == seconds[-1]
    assert seconds[0] <= doc["seconds"]["median"] <= seconds[-1]
    assert doc["config"]["steps"] == 1 and doc["config"]["k"] == 2 and doc["torch_threads"] >= 1
    assert len(doc["load_average_before"]) == 3 and doc["busy_processes"] == 0
    assert all(isinstance(r["thread_probes"], list) for r in rows)  # one step: no probe
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["seconds"] == doc["seconds"]
    assert f"**Median {doc['seconds']['median']:.1f} s**" in (tmp_path / "out" / "report.md").read_text()


def test_busy_processes_spin_until_the_block_ends():
    from facecloak.bench.enrol_time import busy_processes

    with busy_processes(2) as spinners:
        assert len(spinners) == 2 and all(p.poll() is None for p in spinners)
    assert all(p.returncode is not None for p in spinners)


def test_bench_enrol_cli_refuses_a_bad_override(tmp_path, capsys):
    assert main(["bench", "enrol", "--set", "steps", "--out", str(tmp_path)]) != 0
    assert "--set wants KEY=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "results.json").exists()
