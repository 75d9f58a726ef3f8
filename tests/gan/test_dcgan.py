"""The DCGAN: network shapes, conditional sampling, training, NaN stop, mixed precision, and
save -> load in a fresh process."""

from __future__ import annotations

import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from rlgen.errors import TrainingDiverged, UsageError
from rlgen.gan.configs import GANConfig
from rlgen.gan.dcgan import (
    DCGAN,
    GAN,
    build_discriminator,
    build_generator,
    diff_augment,
    sample_labels,
)
from rlgen.runs import create_run
from tests.agents.helpers import run_python
from tests.gan.helpers import TINY, digits, tiny_gan


@pytest.mark.parametrize("unconditional", [False, True])
def test_generator_output_shape_dtype_and_range(unconditional):
    cfg = GANConfig(unconditional=unconditional)
    g = build_generator(cfg)
    z = np.random.default_rng(0).standard_normal((5, cfg.latent_dim)).astype(np.float32) * 50
    inputs = z if unconditional else [z, np.arange(5)[:, None].astype(np.int32)]
    out = np.asarray(g(inputs, training=False))
    assert out.shape == (5, 28, 28, 1)
    assert out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0  # tanh


@pytest.mark.parametrize("unconditional", [False, True])
def test_discriminator_gives_one_logit_per_image(unconditional):
    cfg = GANConfig(unconditional=unconditional)
    d = build_discriminator(cfg)
    x = np.zeros((7, 28, 28, 1), np.float32)
    out = d(x if unconditional else [x, np.zeros((7, 1), np.int32)], training=False)
    assert tuple(out.shape) == (7, 1)
    assert out.dtype == tf.float32


def test_conditional_sampling_honours_labels_and_seed(trained):
    x, y = trained.sample(30, digits=7, seed=3)
    assert x.shape == (30, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.dtype == np.int64 and (y == 7).all()
    x2, _ = trained.sample(30, digits=7, seed=3)
    np.testing.assert_array_equal(x, x2)
    x3, _ = trained.sample(30, digits=7, seed=4)
    assert not np.allclose(x, x3)
    _, y = trained.sample(40, digits=[2, 5], seed=0)
    assert sorted(np.bincount(y, minlength=10)[[2, 5]]) == [20, 20]
    _, y = trained.sample(2500, seed=0)  # several chunks, balanced over 0-9
    assert np.bincount(y, minlength=10).tolist() == [250] * 10
    # the label reaches the generator: the same noise draws another image for another digit
    # (the tiny model's fidelity is near chance, so images, not a classifier, are compared)
    three, _ = trained.sample(30, digits=3, seed=3)
    assert np.abs(three - x).mean() > 1e-3


def test_steps_are_counted_and_saved_and_an_untrained_gan_warns(trained, gan_run):
    assert trained.generator_steps == 10 * (1000 // 32)
    assert GAN.load(gan_run).generator_steps == trained.generator_steps
    fresh = tiny_gan()
    with pytest.warns(UserWarning, match="not been trained: its images are noise") as caught:
        fresh.sample(4)
    assert caught[0].filename == __file__  # the line that asked for the samples
    with pytest.warns(UserWarning, match="not been trained"):
        next(fresh.iter_samples(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trained.sample(4)
    with pytest.raises(UsageError, match="epochs must be a whole number"):
        fresh.train(*digits(32), epochs=2.5, verbose=0)  # a TypeError from range() before


def test_an_interrupted_training_counts_the_epochs_it_finished(monkeypatch):
    from rlgen.gan import dcgan

    finish = dcgan._Monitor.on_epoch_end

    def stop_after_two(self, epoch, logs=None):  # Ctrl-C in a notebook, after epoch 2
        finish(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(dcgan._Monitor, "on_epoch_end", stop_after_two)
    gan = tiny_gan()
    with pytest.raises(KeyboardInterrupt):
        gan.train(*digits(64), epochs=5, verbose=0)
    assert len(gan.history["epoch"]) == 2
    assert gan.generator_steps == 2 * (64 // 16)  # 0 before: "not trained" at the next sample


def test_an_interrupted_runs_checkpoint_copied_up_is_not_called_untrained(monkeypatch, tmp_path):
    """config.json said 0 generator steps until training ended: the checkpoint's networks,
    copied into the run as the messages advise, then sampled as "not trained: noise"."""
    import shutil

    from rlgen.gan import dcgan, sampling

    finish = dcgan._Monitor.on_epoch_end

    def stop_after_two(self, epoch, logs=None):
        finish(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(dcgan._Monitor, "on_epoch_end", stop_after_two)
    gan = tiny_gan()
    run = create_run("gan", "cdcgan", out=tmp_path / "run")
    run.write_json("config.json", dcgan.run_meta(gan))  # as the command line does: 0 steps
    with pytest.raises(KeyboardInterrupt, match="are in .*checkpoint"):
        gan.train(*digits(64), epochs=5, run=run, verbose=0)
    for name in ("generator.keras", "discriminator.keras"):
        shutil.copy(run.file("checkpoint") / name, run.path)
    assert sampling.generator_steps(run.path) in (4, 8)  # the checkpoint's epoch: 1 or 2


def test_labels_are_balanced_and_reject_bad_digits():
    y = sample_labels(1000, None, seed=0)
    assert np.bincount(y).tolist() == [100] * 10
    for bad in (10, -1, [3, 12], 3.7):
        with pytest.raises(UsageError, match="^digits"):
            sample_labels(10, bad, seed=0)


def test_bad_sample_requests_are_usage_errors(trained):
    with pytest.raises(UsageError, match="^n must be > 0"):  # the argument, not the flag -n
        trained.sample(0)
    with pytest.raises(UsageError, match="^digits"):
        trained.sample(5, digits=10)
    with pytest.raises(UsageError, match=r"^n=1000000000 .* rlgen.gan.write_samples\(gan, "):
        trained.sample(10**9)
    for seed in (-1, 1.5):  # 1.5 was NumPy's SeedSequence TypeError
        with pytest.raises(UsageError, match="^seed must be a whole number >= 0"):
            trained.sample(5, seed=seed)


@pytest.mark.filterwarnings("ignore:this GAN has not been trained")
def test_unconditional_gan_has_no_labels():
    gan = tiny_gan(unconditional=True)
    x, y = gan.sample(12, seed=0)
    assert x.shape == (12, 28, 28, 1) and y is None
    with pytest.raises(UsageError, match="unconditional"):
        gan.sample(4, digits=3)


def test_short_training_moves_generated_digits_towards_real_ones(trained, reference):
    """310 steps on 1000 digits: the Fréchet distance to real digits at least halves
    (measured 247 -> 67 after 248 steps at seed 0; the untrained generator draws grey fog,
    and the first ~120 steps barely move it, so fewer steps would make a fragile test)."""
    from rlgen.gan import metrics

    x0, y0 = trained.before
    x1, y1 = trained.sample(500, seed=1)
    before = metrics.compare(x0, y0, reference, n=500)
    after = metrics.compare(x1, y1, reference, n=500)
    assert after["frechet_distance"] < 0.5 * before["frechet_distance"], (before, after)
    hist = trained.history
    assert hist["epoch"] == list(range(1, 11))
    assert all(np.isfinite(hist["d_loss"])) and all(np.isfinite(hist["g_loss"]))


def test_train_writes_grids_checkpoint_gif_and_stops_on_nan(tmp_path):
    run = create_run("gan", "cdcgan", tmp_path / "run")
    gan = tiny_gan()
    x, y = digits(32)
    with pytest.raises(UsageError, match="labels"):
        gan.train(x, None, epochs=1, run=run, verbose=0)  # conditional: y is needed
    # keras.datasets' 0-255 pixels trained a broken GAN without a word
    with pytest.raises(UsageError, match="from 0 to 255.*divide 0-255 pixels by 255"):
        gan.train(np.round(x * 255), y, epochs=1, verbose=0)
    with pytest.raises(UsageError, match=r"\(x \+ 1\) / 2"):
        gan.train(2 * x - 1, y, epochs=1, verbose=0)
    with pytest.raises(UsageError, match="clip them"):
        gan.train(x * 1.2, y, epochs=1, verbose=0)
    with pytest.raises(UsageError, match=r"tanh's range, to \(x \+ 1\) / 2"):  # not "clip"
        gan.train(x * 0.1 - 0.15, y, epochs=1, verbose=0)  # a young generator's output
    with pytest.raises(UsageError, match=r"not str: make one with rlgen.runs.create_run"):
        gan.train(x, y, epochs=1, run=str(tmp_path / "mine"), verbose=0)  # AttributeError
    # the label embedding wrapped -1 to digit 9 and truncated 2.5 in silence; 10 and one-hot
    # rows were TensorFlow tracebacks
    for bad, message in ((-1, "got -1"), (2.5, "got 2.5"), (10, "got 10")):
        with pytest.raises(UsageError, match=f"labels must be the digits 0-9, {message}"):
            gan.train(x, np.where(y == y[0], bad, y), epochs=1, verbose=0)
    with pytest.raises(UsageError, match=r"one-hot.*argmax"):
        gan.train(x, np.eye(10)[y], epochs=1, verbose=0)
    gan.train(x, y, epochs=1, run=run, verbose=0)
    assert (run.path / "checkpoint" / "generator.keras").is_file()
    assert sorted(p.name for p in (run.path / "samples").iterdir()) == [
        "epoch_000.png",
        "epoch_001.png",
    ]
    assert (run.path / "progress.gif").is_file()
    assert (run.path / "tensorboard").is_dir()
    # the run holds the GAN itself, as the command line's do (GAN.load said "no config.json")
    np.testing.assert_array_equal(GAN.load(run.path).sample(4, seed=1)[0], gan.sample(4, seed=1)[0])
    good = keras.models.load_model(run.path / "checkpoint" / "generator.keras").get_weights()

    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(UsageError, match="NaN or inf pixels"):
        gan.train(bad, y, epochs=2, run=run, verbose=0)
    weights = gan.generator.get_weights()
    gan.generator.set_weights([np.full_like(w, np.nan) for w in weights])  # losses go NaN
    with pytest.raises(TrainingDiverged, match="checkpoint"):
        gan.train(x, y, epochs=2, run=run, verbose=0)
    assert len(gan.history["epoch"]) == 1
    assert (run.path / "metrics.csv").read_text().count("\n") == 2  # header + the good epoch
    kept = keras.models.load_model(run.path / "checkpoint" / "generator.keras").get_weights()
    for a, b in zip(good, kept):
        np.testing.assert_array_equal(a, b)


def test_diff_augment_keeps_shape_range_and_gradients():
    x = tf.Variable(np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype(np.float32))
    seed = keras.random.SeedGenerator(0)
    with tf.GradientTape() as tape:
        out = diff_augment(x, ("translation", "cutout"), seed)
        loss = tf.reduce_sum(out)
    assert out.shape == (4, 28, 28, 1)
    assert float(tf.reduce_min(out)) >= -1.0 and float(tf.reduce_max(out)) <= 1.0
    assert tape.gradient(loss, x) is not None
    # the paper's sizes on 28 pixels: shifts of up to 4 pixels, a 14 x 14 cutout
    dot = np.full((64, 28, 28, 1), -1.0, np.float32)
    dot[:, 14, 14] = 1.0
    moved = diff_augment(dot, ("translation",), seed).numpy()[..., 0]
    rows, cols = np.nonzero(moved.max(axis=2) > 0)[1], np.nonzero(moved.max(axis=1) > 0)[1]
    assert max(np.abs(rows - 14).max(), np.abs(cols - 14).max()) == 4
    cut = diff_augment(np.ones((64, 28, 28, 1), np.float32), ("cutout",), seed).numpy()
    assert (cut == -1.0).sum(axis=(1, 2, 3)).max() == 14 * 14
    gan = tiny_gan(diffaugment="translation,cutout")
    xs, ys = digits(32)
    gan.train(xs, ys, epochs=1, verbose=0)
    assert np.isfinite(gan.history["d_loss"][0])


def test_dcgan_is_registered_and_serialisable():
    cfg = GANConfig(**TINY)
    model = DCGAN(build_generator(cfg), build_discriminator(cfg), latent_dim=8, seed=3)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
    assert isinstance(clone, DCGAN)
    assert clone.latent_dim == 8 and clone.conditional and clone.seed == 3
    assert clone.generator.count_params() == model.generator.count_params()


def test_mixed_precision_wraps_both_optimizers_and_trains():
    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        gan = tiny_gan()
        assert isinstance(gan.model.d_optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(gan.model.g_optimizer, keras.optimizers.LossScaleOptimizer)
        x, y = digits(32)
        before = [w.numpy().copy() for w in (*gan.discriminator.weights, *gan.generator.weights)]
        gan.train(x, y, epochs=1, verbose=0)
        assert np.isfinite(gan.history["d_loss"][0]) and np.isfinite(gan.history["g_loss"][0])
        after = [w.numpy() for w in (*gan.discriminator.weights, *gan.generator.weights)]
        assert all(np.isfinite(a).all() for a in after)
        d_count = len(gan.discriminator.weights)
        assert any(not np.array_equal(a, b) for a, b in zip(after[:d_count], before[:d_count]))
        assert any(not np.array_equal(a, b) for a, b in zip(after[d_count:], before[d_count:]))
        images, _ = gan.sample(4, seed=0)
        assert images.dtype == np.float32
    finally:
        keras.mixed_precision.set_global_policy(policy)


@pytest.mark.parametrize("conditioning", ["channel", "projection"])
def test_mixed_precision_keeps_the_spectral_norm_logit_in_float32(conditioning):
    # The SpectralNormalization wrapper took the global float16 policy and rounded the logit
    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        d = build_discriminator(GANConfig(**TINY, conditioning=conditioning, spectral_norm=True))
    finally:
        keras.mixed_precision.set_global_policy(policy)
    x = np.zeros((2, 28, 28, 1), np.float32)
    out = d([x, np.zeros((2, 1), np.int32)], training=True)
    assert out.dtype == tf.float32
    assert d.get_layer("logit_sn").compute_dtype == "float32"


def test_a_loaded_float16_gan_keeps_loss_scaling_in_a_float32_process(tmp_path):
    # The wrapping followed the global policy: a mixed_float16 GAN loaded in a float32
    # process trained its float16 layers without loss scaling (small gradients underflow)
    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        tiny_gan().save(tmp_path / "run")
    finally:
        keras.mixed_precision.set_global_policy(policy)
    assert keras.mixed_precision.global_policy().name == "float32"
    loaded = GAN.load(tmp_path / "run")
    assert loaded.generator.get_layer("up14").compute_dtype == "float16"
    assert isinstance(loaded.model.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(loaded.model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    float32 = tiny_gan().model  # and a float32 GAN is not wrapped
    assert not isinstance(float32.g_optimizer, keras.optimizers.LossScaleOptimizer)


def test_save_then_load_in_a_fresh_process_gives_identical_samples(trained, gan_run, tmp_path):
    out = tmp_path / "fresh.npz"
    code = (
        "import sys, numpy as np\n"
        "from rlgen import runtime\n"
        "runtime.configure(runtime.RuntimeConfig(threads=2))\n"
        "from rlgen.gan import GAN, sample_labelled\n"
        "x, y = GAN.load(sys.argv[1]).sample(20, digits=[1, 4], seed=5)\n"
        "xl, yl = sample_labelled(sys.argv[1], 20, seed=5)\n"
        "np.savez(sys.argv[2], x=x, y=y, xl=xl, yl=yl)\n"
    )
    proc = run_python(["-c", code, str(gan_run), str(out)])
    assert proc.returncode == 0, proc.stderr
    fresh = np.load(out)
    x, y = trained.sample(20, digits=[1, 4], seed=5)
    np.testing.assert_allclose(fresh["x"], x, atol=1e-5)
    np.testing.assert_array_equal(fresh["y"], y)
    xl, yl = trained.sample(20, seed=5)
    np.testing.assert_allclose(fresh["xl"], xl, atol=1e-5)
    np.testing.assert_array_equal(fresh["yl"], yl)
    loaded = GAN.load(gan_run)
    assert loaded.config == trained.config and loaded.conditional


def test_simultaneous_update_trains_both_networks():
    gan = tiny_gan(update="simultaneous")
    assert gan.model.simultaneous
    g0 = [w.copy() for w in gan.generator.get_weights()]
    d0 = [w.copy() for w in gan.discriminator.get_weights()]
    x, y = digits(32)
    gan.train(x, y, epochs=1, verbose=0)
    assert np.isfinite(gan.history["d_loss"][0]) and np.isfinite(gan.history["g_loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(g0, gan.generator.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(d0, gan.discriminator.get_weights()))


def test_ema_generator_ends_as_the_moving_average_of_its_training_weights(tmp_path):
    gan = tiny_gan(ema=0.5)
    x, y = digits(64)  # 4 steps of 16
    covered = gan.model._averaged_variables()  # weights and batch-norm statistics
    assert len(covered) == len(gan.generator.weights)
    assert any("moving_variance" in w.path for w in covered)
    live = []

    class Grab(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            live.append([w.numpy() for w in covered])

    gan.model.fit(gan.dataset(x, y), epochs=1, shuffle=False, verbose=0, callbacks=[Grab()])
    assert len(live) == 4
    # started at zero and bias-corrected: the random initial weights weigh nothing (they
    # weighed 0.5^4 of the average before), the statistics follow the averaged weights
    expected = [np.zeros_like(w) for w in live[0]]
    for step in live:
        expected = [0.5 * a + 0.5 * w for a, w in zip(expected, step)]
    expected = [e / (1 - 0.5**4) for e in expected]
    assert gan.model.use_average()
    average = [w.numpy() for w in covered]
    for a, e in zip(average, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(a, last) for a, last in zip(average, live[-1]))
    gan.model.use_live()
    for w, last in zip(covered, live[-1], strict=True):
        np.testing.assert_array_equal(w.numpy(), last)
    # GAN.train keeps the average as the generator, and so does its checkpoint; the training
    # weights are kept aside for a further train(); without --ema nothing is averaged
    run = create_run("gan", "cdcgan", tmp_path / "run")
    gan.train(x, y, epochs=1, run=run, verbose=0)
    training = [np.array(v) for v in gan.model.average.live]
    average = [w.numpy() for w in covered]
    assert any(not np.array_equal(v, a) for v, a in zip(training, average))
    saved = keras.models.load_model(run.path / "checkpoint" / "generator.keras").get_weights()
    for s, w in zip(saved, gan.generator.get_weights(), strict=True):
        np.testing.assert_array_equal(s, w)
    gan.model.use_live()
    for w, v in zip(covered, training, strict=True):
        np.testing.assert_array_equal(w.numpy(), v)
    assert tiny_gan().model.average.weights == []
    assert not tiny_gan(ema=0.5).model.use_average()  # nothing averaged before a step
    with pytest.raises(ValueError, match="ema"):
        GANConfig(ema=1.0)


def test_lecam_penalty_follows_its_formula_with_debiased_anchors():
    gan = tiny_gan(lecam=0.5)
    model, steps = gan.model, gan.model.d_optimizer.iterations

    def expected(real, fake, a_real, a_fake):
        return 0.5 * (
            np.mean(np.maximum(real - a_fake, 0) ** 2) + np.mean(np.maximum(a_real - fake, 0) ** 2)
        )

    # the discriminator's first step: each anchor is that batch's mean, not 1 % of it
    real = np.array([[3.0], [1.0]], np.float32)  # mean 2
    fake = np.array([[0.5], [-3.0]], np.float32)  # mean -1.25
    penalty = float(model.lecam_penalty(tf.constant(real), tf.constant(fake)))
    np.testing.assert_allclose([float(a) for a in model.lecam_anchors()], [2.0, -1.25], rtol=1e-5)
    assert penalty == pytest.approx(expected(real, fake, 2.0, -1.25), rel=1e-5)
    # the second: moving averages with decay 0.99, divided by 1 - 0.99 ** 2
    steps.assign(1)
    real2 = np.array([[0.0], [0.0]], np.float32)
    fake2 = np.array([[1.0], [1.0]], np.float32)
    penalty = float(model.lecam_penalty(tf.constant(real2), tf.constant(fake2)))
    a_real = (0.99 * 0.01 * 2.0 + 0.01 * 0.0) / (1 - 0.99**2)
    a_fake = (0.99 * 0.01 * -1.25 + 0.01 * 1.0) / (1 - 0.99**2)
    np.testing.assert_allclose(
        [float(a) for a in model.lecam_anchors()], [a_real, a_fake], rtol=1e-5
    )
    assert penalty == pytest.approx(expected(real2, fake2, a_real, a_fake), rel=1e-5)
    # only the excess counts: real logits below the fake anchor, fake above the real, cost 0
    low, high = tf.constant([[-5.0], [-4.0]]), tf.constant([[5.0], [6.0]])
    assert float(model.lecam_penalty(low, high)) == 0


def test_lecam_changes_training_and_is_off_by_default():
    x, y = digits(64)
    plain, regularised = tiny_gan(), tiny_gan(lecam=0.3)
    assert plain.model.anchors.real is None and plain.model.lecam_penalty(1.0, 1.0) == 0
    for gan in (plain, regularised):
        gan.train(x, y, epochs=1, verbose=0)
    anchors = [float(a) for a in regularised.model.lecam_anchors()]
    assert np.isfinite(anchors).all() and 0 not in anchors
    assert regularised.history["lecam_penalty"][0] > 0  # logged beside the losses
    assert "lecam_penalty" not in plain.history
    # same seed, same data: only the regulariser tells the two generators apart
    assert any(
        not np.allclose(a, b)
        for a, b in zip(plain.generator.get_weights(), regularised.generator.get_weights())
    )
    with pytest.raises(ValueError, match="lecam"):
        GANConfig(lecam=-1.0)


def test_default_training_length_is_a_step_budget():
    from rlgen.gan.configs import AUTO_STEPS

    cfg = GANConfig()  # batch 64
    assert cfg.epochs_for(4_000) == 150 and cfg.epochs_for(60_000) == 10
    assert cfg.epochs_for(500) * (500 // 64) >= AUTO_STEPS  # small sets get more epochs
    assert GANConfig(epochs=3).epochs_for(4_000) == 3
    assert cfg.grid_every(150) == 1 and cfg.grid_every(1_329) == 7
    assert GANConfig(log_every=7).grid_every(150) == 7
    with pytest.raises(ValueError, match="epochs"):
        GANConfig(epochs=0)


def test_progress_gif_keeps_at_most_60_evenly_spaced_frames(tmp_path):
    from PIL import Image

    from rlgen.gan.dcgan import _write_gif, grid_frames

    frames = []
    for i in range(100):
        frames.append(tmp_path / f"epoch_{i:03d}.png")
        Image.fromarray(np.full((4, 4), i, np.uint8)).save(frames[-1])
    gif = _write_gif(frames, tmp_path / "progress.gif")
    (tmp_path / "epoch_1000.png").write_bytes(frames[-1].read_bytes())
    in_order = [int(p.stem[6:]) for p in grid_frames(tmp_path)]
    assert in_order == [*range(100), 1000]  # by epoch, not as text (epoch_1000 < epoch_101)
    with Image.open(gif) as im:
        assert im.n_frames == 60
        im.seek(59)
        assert np.asarray(im.convert("L"))[0, 0] == 99  # the last grid is always kept


def test_replicas_draw_their_own_noise_under_mirrored_strategy(tmp_path):
    # Every replica reads the same seed state; own_draw gives each its own rows of one draw
    # for all replicas (without it, both replicas' noise was identical).
    out = tmp_path / "draws.npz"
    code = (
        "import sys, numpy as np, keras, tensorflow as tf\n"
        "from rlgen import runtime\n"
        "rt = runtime.configure(runtime.RuntimeConfig(logical_cpus=2, strategy='mirrored'))\n"
        "from rlgen.gan.dcgan import own_draw\n"
        "strategy = rt.strategy\n"
        "with strategy.scope():\n"
        "    sg = keras.random.SeedGenerator(3)\n"
        "draw = lambda s: keras.random.normal(s, seed=sg)\n"
        "per = strategy.run(tf.function(lambda: own_draw(draw, (4, 2))))\n"
        "parts = [p.numpy() for p in strategy.experimental_local_results(per)]\n"
        "whole = keras.random.normal((8, 2), seed=keras.random.SeedGenerator(3))\n"
        "plain = lambda s: keras.random.normal(s, seed=keras.random.SeedGenerator(3))\n"
        "np.savez(sys.argv[1], a=parts[0], b=parts[1], whole=np.asarray(whole),\n"
        "         one=np.asarray(own_draw(plain, (4, 2))), four=np.asarray(plain((4, 2))))\n"
    )
    proc = run_python(["-c", code, str(out)])
    assert proc.returncode == 0, proc.stderr
    d = np.load(out)
    assert d["a"].shape == (4, 2) and not np.allclose(d["a"], d["b"])
    np.testing.assert_allclose(np.concatenate([d["a"], d["b"]]), d["whole"], atol=1e-6)
    np.testing.assert_array_equal(d["one"], d["four"])  # outside a replicated step: plain


def test_a_saved_gan_loads_and_samples_under_mirrored_strategy(gan_run, tmp_path):
    # GAN.load built the networks outside the strategy's scope and then its optimizers
    # inside: MirroredStrategy refused ("colocate_vars_with ... scope()"), so sampling and
    # --augment-from crashed on any machine with two GPUs
    out = tmp_path / "x.npy"
    code = (
        "import sys, numpy as np\n"
        "from rlgen import runtime\n"
        "rt = runtime.configure(runtime.RuntimeConfig(logical_cpus=2, strategy='mirrored'))\n"
        "assert rt.replicas == 2\n"
        "from rlgen.gan import GAN\n"
        "gan = GAN.load(sys.argv[1])\n"
        "np.save(sys.argv[2], gan.sample(6, digits=[2], seed=1)[0])\n"
    )
    proc = run_python(["-c", code, str(gan_run), str(out)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    x = np.load(out)
    assert x.shape == (6, 28, 28, 1) and np.isfinite(x).all()


@pytest.mark.parametrize("conditioning", ["channel", "projection"])
def test_spectral_norm_discriminator_trains_every_weight_at_unit_norm(conditioning):
    d = build_discriminator(GANConfig(**TINY, conditioning=conditioning, spectral_norm=True))
    x = np.random.default_rng(0).uniform(-1, 1, (7, 28, 28, 1)).astype(np.float32)
    y = np.arange(7)[:, None].astype(np.int32)
    for _ in range(30):  # one power iteration per training call
        with tf.GradientTape() as tape:
            out = d([x, y], training=True)
    assert tuple(out.shape) == (7, 1) and out.dtype == tf.float32
    grads = tape.gradient(out, d.trainable_weights)
    assert [w.path for w, g in zip(d.trainable_weights, grads) if g is None] == []
    wrapped = [layer for layer in d.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 4  # the label's weights, two convolutions, the logit
    for layer in wrapped:
        kernel = layer.kernel.numpy()
        sigma = np.linalg.norm(kernel.reshape(-1, kernel.shape[-1]), ord=2)
        assert sigma == pytest.approx(1.0, abs=0.05), layer.name


def test_sngan_recipe_trains_saves_and_loads(tmp_path):
    recipe = {"loss": "hinge", "conditioning": "projection", "spectral_norm": True}
    gan = tiny_gan(**recipe)
    x, y = digits(64)
    real, fake = np.array([[2.0], [0.5]], np.float32), np.array([[-3.0], [0.0]], np.float32)
    # mean(relu(1 - real)) + mean(relu(1 + fake)) = 0.25 + 0.5; the generator's -mean(fake)
    assert float(gan.model.discriminator_loss(real, fake)) == pytest.approx(0.75)
    assert float(gan.model.generator_loss(fake)) == pytest.approx(1.5)
    bce = tiny_gan().model  # the default: cross-entropy, log(1 + e^-x) for a real image
    assert float(bce.generator_loss(fake)) == pytest.approx(np.mean(np.log1p(np.exp(-fake))))
    gan.train(x, y, epochs=2, verbose=0)
    assert np.isfinite(gan.history["d_loss"]).all() and np.isfinite(gan.history["g_loss"]).all()
    gan.save(tmp_path / "run")
    loaded = GAN.load(tmp_path / "run")
    assert loaded.config == gan.config and loaded.model.loss == "hinge"
    np.testing.assert_array_equal(loaded.sample(8, seed=2)[0], gan.sample(8, seed=2)[0])
    probe = [x[:8] * 2 - 1, y[:8, None].astype(np.int32)]
    np.testing.assert_allclose(loaded.discriminator(probe), gan.discriminator(probe), atol=1e-5)
    with pytest.raises(ValueError, match="label_smoothing"):
        GANConfig(loss="hinge", label_smoothing=0.1)
    with pytest.raises(ValueError, match="unconditional=True"):
        GANConfig(conditioning="projection", unconditional=True)


def test_epoch_grids_name_their_epoch_and_rows(tmp_path):
    """A class watching progress.gif could not tell the epoch, nor which row was which digit."""
    from PIL import Image

    from rlgen.gan.dcgan import write_mosaic

    digits = np.zeros((20, 28, 28, 1), np.float32)
    plain = write_mosaic(digits, tmp_path / "plain.png", ncols=10)
    rows = [str(d) for d in range(2)]
    named = write_mosaic(digits, tmp_path / "named.png", row_labels=rows, caption="epoch 3")
    with Image.open(plain) as a, Image.open(named) as b:
        assert (b.width - a.width, b.height - a.height) == (20, 20)  # a margin left and above
        margin = np.asarray(b)
        assert margin[:20].min() < 128 and margin[20:, :20].min() < 128  # the text is drawn
        assert np.array_equal(np.asarray(a), margin[20:, 20:])  # the digits as before


def test_a_loaded_gan_goes_on_counting_its_epochs(tmp_path):
    """Loaded, a GAN's history was empty: a further train() counted from epoch 1 and drew
    the first training's shuffle orders again."""
    from rlgen import runtime
    from rlgen.gan.dcgan import GAN

    gan = GAN(dict(TINY))  # a dict of fields, as a Trainer takes one
    run = create_run("gan", "cdcgan", out=tmp_path / "gan")
    gan.train(*digits(32), epochs=1, run=run, verbose=0)
    first = (tmp_path / "gan" / "samples" / "epoch_000.png").read_bytes()
    gan.train(*digits(32), epochs=1, run=run, verbose=0)  # the untrained grid is kept
    assert (tmp_path / "gan" / "samples" / "epoch_000.png").read_bytes() == first
    loaded = GAN.load(tmp_path / "gan")
    assert loaded.history["epoch"] == [1, 2] and loaded.history == gan.history
    loaded.train(*digits(32), epochs=1, verbose=0)
    assert loaded.history["epoch"] == [1, 2, 3]
    # saved back into its command-line run, the summary and losses.png had stayed as before
    run.write_json("summary.json", {"task": "cdcgan", **gan.history_figures(), "seconds": 1})
    (tmp_path / "gan" / "losses.png").unlink(missing_ok=True)
    loaded.save(tmp_path / "gan")
    summary = json.loads((tmp_path / "gan" / "summary.json").read_text())
    assert summary == {"task": "cdcgan", **loaded.history_figures(), "seconds": 1}
    assert summary["epochs"] == 3 and summary["generator_steps"] == 3 * (32 // 16)
    assert (tmp_path / "gan" / "losses.png").is_file()
    assert runtime.seed_after(7, 0) == 7  # one training as before
    assert len({runtime.seed_after(7, 1), runtime.seed_after(8, 0), runtime.seed_after(7, 2)}) == 3


def test_keras_users_fit_sample_and_shapes(recwarn):
    """Trained with Keras' own fit, a GAN still said "not been trained" (and saved 0 steps);
    sample(seed=None) was refused; keras.datasets' (N, 28, 28) images were refused."""
    gan = tiny_gan()
    x, y = digits(32)
    gan.model.fit(gan.dataset(x, y), epochs=1, verbose=0)
    assert gan.generator_steps == 32 // 16  # counted by the generator's optimizer
    first, _ = gan.sample(4, seed=None)
    second, _ = gan.sample(4, seed=None)
    assert not np.array_equal(first, second)  # new images at each call
    assert not [w for w in recwarn if "not been trained" in str(w.message)]
    gan.train(x[..., 0], y, epochs=1, verbose=0)  # (N, 28, 28)
    assert gan.generator_steps == 2 * (32 // 16) and gan.history["epoch"] == [1]


def test_networks_from_another_gan_run_are_named_on_load(tmp_path):
    """An unconditional run's generator copied into a conditional run (as the advice to copy
    checkpoint/ files invites) failed in Keras at the first sample (exit 1)."""
    import shutil

    from rlgen.gan.dcgan import GAN

    tiny_gan().save(tmp_path / "cond")
    tiny_gan(unconditional=True).save(tmp_path / "plain")
    shutil.copy(tmp_path / "plain" / "generator.keras", tmp_path / "cond" / "generator.keras")
    with pytest.raises(
        UsageError,
        match=r"generator.keras does not fit .*config.json: it takes "
        r"\(8,\) and gives \(28, 28, 1\), where .* takes \(8,\) and \(1,\)",
    ):
        GAN.load(tmp_path / "cond")
    GAN.load(tmp_path / "plain")  # its own networks: fine


def test_only_training_warns_of_a_train_size_past_the_data(capsys):
    """The warning came from every reader of a GAN's subset (augmentation, gan eval) too."""
    from rlgen import datasets

    gan = tiny_gan(train_size=99_999)
    y = datasets.load_images("mnist").y_train
    capsys.readouterr()
    assert len(gan.training_indices(y)) == len(y)
    assert "is more than" not in capsys.readouterr().err
    x, _ = gan.load_data()
    assert len(x) == len(y) and "train_size=99_999 is more than" in capsys.readouterr().err
    with pytest.raises(UsageError, match="history_figures\\(\\): this GAN has no epochs yet"):
        gan.history_figures()  # a KeyError 'epoch' before
