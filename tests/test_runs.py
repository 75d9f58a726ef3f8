import json
import os

import pytest

from rlgen import runs
from rlgen.errors import UsageError


def test_atomic_write_keeps_old_file_when_writer_fails(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("good")
    with pytest.raises(RuntimeError), runs.atomic_path(target) as tmp:
        assert tmp.suffix == ".keras" and tmp != target
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_write_json_and_read_back(tmp_path):
    runs.write_json(tmp_path / "a.json", {"x": 1})
    assert runs.read_json(tmp_path / "a.json") == {"x": 1}
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(UsageError, match="corrupt"):
        runs.read_json(tmp_path / "b.json")


def test_create_run_never_reuses_a_folder(tmp_path):
    first = runs.create_run("supervised", "mlp", root=tmp_path)
    second = runs.create_run("supervised", "mlp", root=tmp_path)
    assert first.path != second.path
    (first.path / "model.keras").write_text("x")
    with pytest.raises(UsageError, match="already exists"):
        runs.create_run("supervised", "mlp", out=first.path)
    assert (first.path / "model.keras").read_text() == "x"


def test_open_run_errors(tmp_path):
    with pytest.raises(UsageError, match="not a folder"):
        runs.open_run(tmp_path / "nope")
    with pytest.raises(UsageError, match="not an rlgen run"):
        runs.open_run(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"group": "agent"}))
    with pytest.raises(UsageError, match="agent run, not a supervised run"):
        runs.open_run(tmp_path, group="supervised")
    assert runs.open_run(tmp_path, group="agent").config["group"] == "agent"


def test_a_corrupt_model_names_a_fix_that_exists(tmp_path):
    (tmp_path / "checkpoint").mkdir()
    for path, fix in ((tmp_path / "model.keras", "from the run's checkpoint/"),
                      (tmp_path / "checkpoint" / "model.keras", "train again")):  # fmt: skip
        path.write_bytes(b"PK garbage")
        with pytest.raises(UsageError, match=fix):
            runs.load_model(path)


def test_a_claim_is_let_go_however_the_block_ends(tmp_path):
    from rlgen.runs import LOCK, claimed

    with pytest.raises(RuntimeError), claimed(tmp_path):
        assert (tmp_path / LOCK).read_text() == str(os.getpid())
        with pytest.raises(UsageError, match="being trained by process"), claimed(tmp_path):
            pass  # a second claim, even from this process, is refused while the first holds
        raise RuntimeError("training failed")
    assert (tmp_path / LOCK).read_text() == ""  # let go: emptied
    with claimed(tmp_path):  # and the run can be claimed again
        pass
