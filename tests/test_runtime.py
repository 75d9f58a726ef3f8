"""Devices, mixed precision and tf.distribute, each in a fresh process (TensorFlow can be
configured only once per process)."""

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import run_cli


def in_a_fresh_process(code: str) -> subprocess.CompletedProcess:
    """Python ``code`` run by a new interpreter (TensorFlow configures once per process)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def accuracy(out):
    return json.loads((out / "summary.json").read_text())["test_accuracy"]


def test_mirrored_strategy_on_two_logical_cpus_matches_plain_fit(tmp_path):
    common = ["supervised", "train", "mlp", "--train-size", "1000", "--epochs", "6", "--quiet"]
    plain = run_cli(*common, "--out", tmp_path / "plain")
    mirrored = run_cli(
        *common, "--strategy", "mirrored", "--logical-cpus", "2", "--out", tmp_path / "mirrored"
    )
    assert plain.code == 0, plain
    assert mirrored.code == 0, mirrored
    runtime = json.loads((tmp_path / "mirrored" / "config.json").read_text())["runtime"]
    assert runtime["strategy_used"] == "MirroredStrategy" and runtime["replicas"] == 2
    a, b = accuracy(tmp_path / "plain"), accuracy(tmp_path / "mirrored")
    assert a > 0.8 and b > 0.8
    assert abs(a - b) < 0.05


def test_models_are_built_under_the_strategy_and_determinism_is_switched_on():
    # The CLI runs above read the replica count from the strategy object: a model built
    # outside its scope (one replica) passed them; here the variables themselves must be
    # mirrored, and --deterministic must reach TensorFlow (CPU runs repeat without it)
    code = (
        "import tensorflow as tf\n"
        "from rlgen import runtime\n"
        "rt = runtime.configure(runtime.RuntimeConfig(logical_cpus=2, strategy='mirrored',\n"
        "                                             deterministic=True))\n"
        "from tensorflow.python.framework import config as tf_config  # no public reader\n"
        "assert tf_config.is_op_determinism_enabled()\n"
        "from rlgen.supervised.training import Trainer, default_config\n"
        "from rlgen.gan.configs import GANConfig\n"
        "from rlgen.gan.dcgan import make_dcgan\n"
        "model = Trainer('mlp', default_config('mlp', train_size=100)).build_model()\n"
        "gan = make_dcgan(GANConfig(generator_filters=(8, 4), discriminator_filters=(4, 8)))\n"
        "for m in (model, gan.discriminator, gan.generator):\n"
        "    assert all(isinstance(w.value, tf.distribute.DistributedValues)\n"
        "               for w in m.weights), m.name\n"
        "assert model.distribute_strategy.num_replicas_in_sync == 2\n"
    )
    proc = in_a_fresh_process(code)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_mixed_precision_keeps_float32_outputs(tmp_path):
    out = tmp_path / "mp"
    result = run_cli(
        "supervised",
        "train",
        "mlp",
        "--mixed-precision",
        "--hidden",
        "64",  # float16 is emulated on a CPU: the default 512-wide MLP took 66-120 s here
        "--train-size",
        "600",
        "--epochs",
        "5",
        "--quiet",
        "--out",
        out,
    )
    assert result.code == 0, result
    assert "--mixed-precision without a GPU" in result.err  # the slowdown is announced
    runtime = json.loads((out / "config.json").read_text())["runtime"]
    assert runtime["precision_policy"] == "mixed_float16"
    assert accuracy(out) > 0.6
    import keras

    model = keras.models.load_model(out / "model.keras", compile=False)
    assert model.layers[1].dtype_policy.name == "mixed_float16"
    assert model.get_layer("probs").dtype_policy.name == "float32"


@pytest.mark.parametrize(
    "task_type,task_id,cluster,writes",
    [
        ("worker", 0, {"worker": ["a:1", "b:1"]}, True),  # worker 0 is the chief
        ("worker", 1, {"worker": ["a:1", "b:1"]}, False),
        ("chief", 0, {"chief": ["c:1"], "worker": ["a:1"]}, True),
        ("worker", 0, {"chief": ["c:1"], "worker": ["a:1"]}, False),
    ],
)
def test_only_the_chief_worker_writes_the_run(
    tmp_path, monkeypatch, task_type, task_id, cluster, writes
):
    # every worker of a multi-worker run wrote the same folder (or collided on it)
    from types import SimpleNamespace

    from rlgen import runtime
    from rlgen.runs import create_run

    resolver = SimpleNamespace(
        task_type=task_type,
        task_id=task_id,
        cluster_spec=lambda: SimpleNamespace(as_dict=lambda: cluster),
    )
    fake = SimpleNamespace(strategy=SimpleNamespace(cluster_resolver=resolver))
    monkeypatch.setattr(runtime, "_ACTIVE", fake)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # a worker's folder, cleaned up
    run = create_run("gan", "cdcgan", out=tmp_path / "run")
    assert (run.path == tmp_path / "run") is writes
    assert runtime.is_chief() is writes


def test_multiworker_without_cluster_is_a_clear_error():
    result = run_cli("supervised", "train", "iris", "--strategy", "multiworker")
    result.assert_usage_error("TF_CONFIG")
    result = run_cli("supervised", "train", "iris", "--strategy", "multiworker",
                     env={"TF_CONFIG": "garbage"})  # fmt: skip
    result.assert_usage_error("TF_CONFIG is not valid JSON")  # was a JSONDecodeError


@pytest.mark.parametrize(
    "tf_config, message",
    [
        ("[1]", "needs a 'cluster' and a 'task'"),  # was taken without a word
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "chief", "index": 0}}',
         "task type 'chief' has no list of addresses in its cluster (worker)"),
        ('{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 5}}',
         "task index 5 is not one of its 1 worker addresses (0 to 0)"),  # was a ValueError
    ],
)  # fmt: skip
def test_a_malformed_tf_config_is_named(tf_config, message):
    from rlgen.errors import UsageError
    from rlgen.runtime import check_tf_config

    with pytest.raises(UsageError, match=re.escape(message)):
        check_tf_config(tf_config)
    two = '{"cluster": {"worker": ["h:1", "h:2"]}, "task": {"type": "worker", "index": 1}}'
    check_tf_config(two)


def test_a_thread_count_no_machine_runs_is_refused():
    from rlgen.errors import UsageError
    from rlgen.runtime import RuntimeConfig

    with pytest.raises(UsageError, match="^threads=100000 is more than any machine runs well"):
        RuntimeConfig(threads=100_000)  # TensorFlow hung making them
    assert RuntimeConfig(threads=64).threads == 64


@pytest.mark.parametrize("seed", [5])
def test_deterministic_mode_reproduces_a_run(tmp_path, seed):
    outs = []
    for i in range(2):
        out = tmp_path / f"r{i}"
        result = run_cli(
            "supervised",
            "train",
            "mlp",
            "--deterministic",
            "--seed",
            str(seed),
            "--train-size",
            "300",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            out,
        )
        assert result.code == 0, result
        outs.append((out / "history.csv").read_text().splitlines())
    strip = [[",".join(r.split(",")[:-1]) for r in rows] for rows in outs]  # drop seconds
    assert strip[0] == strip[1]


def test_the_python_api_hides_tensorflows_start_up_notices():
    """``from rlgen.agents import DQNAgent`` prints what the CLI prints at start: nothing from
    TensorFlow's C++ side (oneDNN, CUDA), which writes past Python's logging."""
    code = "from rlgen.agents import DQNAgent\nfrom rlgen.gan import GAN\nimport tensorflow"
    proc = in_a_fresh_process(code)
    assert proc.returncode == 0, proc.stderr
    noise = [
        line
        for line in proc.stderr.splitlines()
        if "oneDNN" in line or "cuda" in line.lower() or line[:5] in ("I0000", "E0000", "W0000")
    ]
    assert noise == []


def test_a_configure_after_tensorflow_started_says_what_it_could_not_apply():
    """In a notebook that had built a model, configure(logical_cpus=2, threads=1) returned
    one replica and TensorFlow's own thread pools, without a word."""
    code = (
        "import tensorflow as tf\n"
        "from rlgen import runtime\n"
        "tf.constant(1.0) + 1.0  # TensorFlow has started\n"
        "rt = runtime.configure(runtime.RuntimeConfig(logical_cpus=2, threads=1))\n"
        "print('REPLICAS', rt.replicas)\n"
        "runtime.configure(runtime.RuntimeConfig(mixed_precision=True), set_globals=False)\n"
    )
    proc = in_a_fresh_process(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REPLICAS 1" in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("rlgen:")]
    assert any(
        "already started in this process, so threads=1, logical_cpus=2 could not be applied" in line
        for line in lines
    ), proc.stderr[-2000:]
    assert any("set_globals=False leaves Keras' dtype policy as it is" in ln for ln in lines)
