"""Loss scaling for float16 training that holds on several replicas.

Keras 3's ``LossScaleOptimizer`` (3.15) decides whether to skip a step from the first
replica's gradients alone: its comment assumes they are already summed over the replicas,
but under ``tf.distribute`` they are still each replica's own when it checks. An overflow on
any GPU but the first then reaches the weights (and the loss scale never drops).
:class:`ReplicaLossScaleOptimizer` has the replicas agree first: one all-reduced flag a step.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="rlgen")
class ReplicaLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """``keras.optimizers.LossScaleOptimizer`` whose overflow check covers every replica."""

    def apply(self, grads: list[Any], trainable_variables: list[Any] | None = None) -> Any:
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            grads = poison_unless_all_finite(grads, ctx)
        return super().apply(grads, trainable_variables)


def poison_unless_all_finite(grads: list[Any], ctx: Any) -> list[Any]:
    """``grads`` unchanged if every replica's gradients are finite, else made non-finite on
    every replica, so each replica's own check skips the step and lowers the scale."""
    flags = [
        tf.reduce_all(tf.math.is_finite(g.values if isinstance(g, tf.IndexedSlices) else g))
        for g in grads
        if g is not None
    ]
    overflowed = 1.0 - tf.cast(tf.reduce_all(tf.stack(flags)), tf.float32)
    overflowed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, overflowed)  # replicas that did
    # 1 where no replica overflowed, NaN where any did (g * NaN is NaN, also for g = 0)
    factor = tf.where(overflowed > 0, float("nan"), 1.0)

    def poison(g: Any) -> Any:
        if g is None:
            return None
        if isinstance(g, tf.IndexedSlices):
            return tf.IndexedSlices(g.values * tf.cast(factor, g.dtype), g.indices, g.dense_shape)
        return g * tf.cast(factor, g.dtype)

    return [poison(g) for g in grads]


def computes_in_float16(*models: keras.Model) -> bool:
    """Whether any layer of ``models`` computes in float16 (a mixed_float16 network), read
    from the layers themselves: a network loaded from a file keeps the policy it was built
    with, whatever the process's global policy is now."""
    return any(layer.compute_dtype == "float16" for m in models for layer in m.layers)


def loss_scaled(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped for float16 training (unchanged if it already scales its loss):
    Keras' LossScaleOptimizer on one replica, :class:`ReplicaLossScaleOptimizer` on several."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    if tf.distribute.get_strategy().num_replicas_in_sync > 1:
        return ReplicaLossScaleOptimizer(optimizer)
    return keras.optimizers.LossScaleOptimizer(optimizer)
