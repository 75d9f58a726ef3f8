"""``rlgen gan train|sample|eval`` in fresh processes, and every bad input of the issue."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rlgen.cli import main
from tests.gan.helpers import digits, tiny_gan


def test_gan_help_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from rlgen.cli import build_parser\n"
        "build_parser()\n"
        "print('tensorflow' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "False", proc.stderr


def test_train_writes_a_complete_run(cli, tmp_path):
    out = tmp_path / "run"
    r = cli(
        "gan", "train", "--train-size", "64", "--batch-size", "32", "--epochs", "2",
        "--latent-dim", "16", "--generator-filters", "32,16", "--out", out, "--threads", "2",
        "--logical-cpus", "2", "--strategy", "mirrored",  # the tf.distribute path, on a CPU
        "--ema", "0.9", "--lecam", "0.3",  # their moving averages kept inside the replicated step
        "--diffaugment", "translation,cutout",  # each replica draws its own transforms
    )  # fmt: skip
    assert r.code == 0, r
    assert "run written to" in r.out
    assert f"the digits: {out / 'samples' / 'epoch_002.png'} (last epoch)" in r.out
    assert "this GAN trained only 4 generator steps" in r.err  # said before anyone samples
    assert f"next: rlgen gan sample {out} -n 64 --out digits.png" in r.out
    for name in (
        "config.json",
        "generator.keras",
        "discriminator.keras",
        "metrics.csv",
        "summary.json",
        "progress.gif",
        "losses.png",
        "checkpoint/generator.keras",
        "checkpoint/discriminator.keras",
        "samples/epoch_000.png",
        "samples/epoch_002.png",
    ):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").rglob("events.out.tfevents*"))
    config = json.loads((out / "config.json").read_text())
    assert config["group"] == "gan" and config["conditional"] is True
    assert config["config"]["latent_dim"] == 16 and config["config"]["ema"] == 0.9
    assert config["config"]["lecam"] == 0.3
    assert config["runtime"]["replicas"] == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["train_examples"] == 64
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"d_loss", "g_loss"} <= set(rows[0])
    # Per-replica losses are not double-scaled: an untrained pair sits near 2 ln 2 and ln 2.
    assert 1.0 < float(rows[0]["d_loss"]) < 1.6 and 0.5 < float(rows[0]["g_loss"]) < 0.9


def test_sample_writes_npz(cli, gan_run, tmp_path):
    r = cli("gan", "sample", gan_run, "-n", "12", "--digit", "3", "--out", tmp_path / "d.npz")
    assert r.code == 0, r
    with np.load(tmp_path / "d.npz") as data:
        assert data["x"].shape == (12, 28, 28, 1) and data["x"].dtype == np.float32
        assert 0.0 <= data["x"].min() and data["x"].max() <= 1.0
        assert (data["y"] == 3).all()


def test_eval_prints_a_table_and_writes_json(cli, gan_run, reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(gan_run, run)
    r = cli("gan", "eval", run, "-n", "200", "--no-cas")
    assert r.code == 0, r
    figures = json.loads((run / "eval.json").read_text())
    for key in ("label_fidelity", "frechet_distance", "frechet_floor", "kid", "coverage"):
        assert key in figures and key in r.out
    assert figures["n"] == 200
    assert "cas" not in figures
    assert ("near chance" in r.out) == (figures["label_fidelity"] < 0.3)
    # each figure read with its real-data level or target; bookkeeping stays in the JSON
    assert f"label fidelity {100 * figures['label_fidelity']:.1f} %" in r.out
    assert f"the floor {figures['frechet_floor']:.2f}" in r.out and "lower is better" in r.out
    assert "reference_version" in figures and "reference_version" not in r.out


def test_eval_notes_a_label_fidelity_near_chance(cli, reference, tmp_path):
    gan = tiny_gan()  # two steps of training: it has not learnt the digits
    gan.train(*digits(32), epochs=1, verbose=0)
    gan.save(tmp_path / "run")
    r = cli("gan", "eval", tmp_path / "run", "-n", "100", "--no-cas")
    assert r.code == 0, r
    assert json.loads((tmp_path / "run" / "eval.json").read_text())["label_fidelity"] < 0.3
    assert "is near chance (10 %)" in r.out and "train longer" in r.out


def test_corrupt_model_exits_2_in_a_fresh_process(cli, gan_run, tmp_path):
    run = tmp_path / "broken"
    shutil.copytree(gan_run, run)
    (run / "generator.keras").write_bytes(b"garbage")
    cli("gan", "sample", run, "-n", "4", "--out", tmp_path / "x.png").assert_usage_error("corrupt")
    assert not (tmp_path / "x.png").exists()


def test_bad_inputs_exit_2_in_a_fresh_process(cli, gan_run, uncond_run, not_a_gan_run, tmp_path):
    png = str(tmp_path / "x.png")
    cli("gan", "sample", gan_run, "--digit", "10", "--out", png).assert_usage_error("--digit")
    cli("gan", "sample", uncond_run, "--digit", "3", "--out", png).assert_usage_error(
        "unconditional"
    )
    cli("gan", "eval", not_a_gan_run).assert_usage_error("not a gan run")
    out = tmp_path / "uneven"
    cli(
        "gan", "train", "--train-size", "64", "--batch-size", "33", "--out", out,
        "--logical-cpus", "2", "--strategy", "mirrored",
    ).assert_usage_error("batch of 33", "multiple of 2")  # fmt: skip
    assert not out.exists()  # refused before the run folder


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--digit", "10"], "--digit"),
        (["--digit", "-1"], "--digit"),
        (["-n", "0"], "-n"),
        (["-n", "-5"], "-n"),
        (["-n", "5000"], "npz"),
        (["--seed", "-3"], "--seed"),
        (["--out", "{tmp}/missing/x.png"], "does not exist"),
        (["--out", "{tmp}/x.txt"], ".png"),
        (["-n", "1000000000000000", "--out", "{tmp}/x.npz"], "GB"),
    ],
)
def test_bad_sample_requests(args, fragment, gan_run, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "x.png")]
    assert main(["gan", "sample", str(gan_run), *args]) == 2
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1 and fragment.lower() in lines[0].lower(), err
    assert not any(tmp_path.iterdir())


def test_requests_on_runs_that_are_not_usable(uncond_run, not_a_gan_run, tmp_path, capsys):
    png = str(tmp_path / "x.png")
    cases = [
        (["gan", "sample", str(uncond_run), "--digit", "2", "--out", png], "unconditional"),
        (["gan", "sample", str(not_a_gan_run), "--out", png], "not a gan run"),
        (["gan", "sample", str(tmp_path / "nowhere"), "--out", png], "not a folder"),
        (["gan", "eval", str(not_a_gan_run)], "not a gan run"),
        (["gan", "eval", str(uncond_run), "-n", "3"], "-n"),
        (["gan", "eval", str(uncond_run), "--seed", "-1"], "--seed"),
        (["gan", "train", "--epochs", "0"], "--epochs"),
        (["gan", "train", "--diffaugment", "zoom"], "diffaugment"),
        (["gan", "train", "--dropout", "1.5"], "--dropout"),
        (["gan", "train", "--lecam", "-0.1"], "--lecam"),
        (["gan", "train", "--lecam", "nan"], "--lecam"),
    ]
    for argv, fragment in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if "error:" in ln]
        assert len(lines) == 1 and fragment.lower() in lines[0].lower(), (argv, err)


def test_nan_pixels_are_refused_before_training(cli, tmp_path):
    # A NaN in the data is caught when it is loaded; the NaN-loss stop itself is tested
    # in-process in test_dcgan.py (test_train_writes_grids_checkpoint_gif_and_stops_on_nan).
    rng = np.random.default_rng(0)
    x = np.full((64, 28, 28), np.nan, np.float32)
    y = np.arange(64) % 10
    data = tmp_path / "nan.npz"
    np.savez(data, x_train=x, y_train=y, x_test=rng.uniform(size=(10, 28, 28)), y_test=y[:10])
    r = cli("gan", "train", "--data-dir", data, "--epochs", "1", "--out", tmp_path / "run")
    r.assert_usage_error("NaN", "corrupt")
    assert not (tmp_path / "run").exists()


def test_eval_names_a_runs_moved_data_as_the_runs(cli, gan_run, tmp_path):
    # it said "--data-dir X does not exist" to a user who gave no --data-dir
    moved = tmp_path / "gan"
    shutil.copytree(gan_run, moved)
    meta = json.loads((moved / "config.json").read_text())
    meta["config"]["data_dir"] = str(tmp_path / "gone")
    (moved / "config.json").write_text(json.dumps(meta))
    cli("gan", "eval", moved, "--no-cas").assert_usage_error("no longer there", "--data-dir")
