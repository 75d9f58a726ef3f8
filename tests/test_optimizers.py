import subprocess
import sys

import keras
import numpy as np

from rlgen.optimizers import ReplicaLossScaleOptimizer, computes_in_float16, loss_scaled

# Two logical CPUs stand in for two GPUs; replica 1's gradient overflows, replica 0's does not.
OVERFLOW_ON_ONE_REPLICA = """
import json, sys
import numpy as np
from rlgen import runtime
rt = runtime.configure(runtime.RuntimeConfig(threads=1, logical_cpus=2, strategy="mirrored"))
import keras, tensorflow as tf
from rlgen.optimizers import loss_scaled
strategy = rt.strategy
with strategy.scope():
    v = keras.Variable(np.ones(3, np.float32), name="w")
    opt = loss_scaled(keras.optimizers.SGD(0.1))
    opt.build([v])

@tf.function
def step(overflow):
    def fn():
        ctx = tf.distribute.get_replica_context()
        bad = tf.logical_and(overflow, ctx.replica_id_in_sync_group > 0)
        grad = tf.where(bad, np.inf, 1.0) * tf.ones(3)
        opt.apply([opt.scale_loss(grad)], [v])  # as a scaled loss's gradient would be
    strategy.run(fn)

out = {"type": type(opt).__name__}
step(tf.constant(True))
out["after_overflow"] = np.asarray(strategy.experimental_local_results(v.value)[0]).tolist()
out["scale"] = float(opt.dynamic_scale.numpy())
step(tf.constant(False))
out["after_finite"] = np.asarray(strategy.experimental_local_results(v.value)[0]).tolist()
json.dump(out, open(sys.argv[1], "w"))
"""


def test_an_overflow_on_any_replica_skips_the_step_on_all(tmp_path):
    # Keras 3.15 checks only the first replica's (not yet summed) gradients: the inf of
    # replica 1 reached the weights and the loss scale stayed at 32768
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-c", OVERFLOW_ON_ONE_REPLICA, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    got = json.loads(out.read_text())
    assert got["type"] == "ReplicaLossScaleOptimizer"
    assert got["after_overflow"] == [1.0, 1.0, 1.0]  # skipped: the weights are untouched
    assert got["scale"] == 32768.0 / 2  # and the scale halved, as for a one-device overflow
    # a finite step is applied: the two replicas' gradients of 1 summed, times lr 0.1
    np.testing.assert_allclose(got["after_finite"], [0.8] * 3, rtol=1e-5)


def test_one_replica_keeps_keras_own_optimizer_and_float16_is_read_from_layers():
    opt = loss_scaled(keras.optimizers.Adam())
    assert type(opt) is keras.optimizers.LossScaleOptimizer  # saves and loads anywhere
    assert loss_scaled(opt) is opt
    assert not isinstance(opt, ReplicaLossScaleOptimizer)
    dense = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    half = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, dtype="mixed_float16")])
    assert not computes_in_float16(dense) and computes_in_float16(dense, half)
