"""The quality figures on inputs whose answer is known: real vs real sits at the floor, noise
far above it; the statistics themselves on Gaussians."""

from __future__ import annotations

import numpy as np
import pytest

from rlgen.errors import UsageError
from rlgen.gan import metrics


def test_frechet_distance_of_gaussians_matches_the_formula(rng):
    a = rng.standard_normal((4000, 4))
    b = rng.standard_normal((4000, 4)) + np.array([2.0, 0.0, 0.0, 0.0])
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert metrics.frechet_distance(a, b) == pytest.approx(4.0, rel=0.1)  # |mu|^2, same cov
    c = rng.standard_normal((4000, 4)) * 2.0
    # (sigma_a - sigma_b)^2 per dimension: 4 * (2 - 1)^2
    assert metrics.frechet_distance(a, c) == pytest.approx(4.0, rel=0.15)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two(rng):
    a, b = rng.standard_normal((500, 8)), rng.standard_normal((500, 8))
    assert abs(metrics.kernel_inception_distance(a, b)) < 0.05
    assert metrics.kernel_inception_distance(a, b + 1.0) > 0.5


def test_recall_and_coverage_see_a_missing_mode(rng):
    real = rng.standard_normal((400, 2))
    same = rng.standard_normal((400, 2))
    half = same[same[:, 0] > 0]  # the generator lost half the distribution
    full = metrics.recall_coverage(real, same)
    lost = metrics.recall_coverage(real, half)
    assert full["recall"] > 0.9 and full["coverage"] > 0.85
    assert lost["coverage"] < 0.7 and lost["recall"] < 0.7


def test_real_digits_sit_at_the_floor_and_noise_far_above(reference, rng):
    d = reference.data
    assert reference.info["test_accuracy"] > 0.9
    assert reference.info["version"] == metrics.REFERENCE_VERSION
    idx = rng.choice(len(d.x_train), 1000, replace=False)
    real = metrics.compare(d.x_train[idx], d.y_train[idx], reference, n=500, seed=1)
    assert real["n"] == 500
    assert real["frechet_distance"] < 2.0 * real["frechet_floor"] + 1.0, real
    assert real["label_fidelity"] > 0.95  # training digits with their own labels
    assert real["recall"] > 0.8 and real["coverage"] > 0.8
    assert real["memorisation_median_generated"] == 0.0  # they ARE training digits
    assert sum(real["predicted_class_histogram"]) == 500

    noise = rng.uniform(0, 1, (500, 28, 28, 1)).astype(np.float32)
    bad = metrics.compare(noise, np.zeros(500, np.int64), reference, n=500, seed=1)
    said, bad_said = " ".join(metrics.explain(real)), " ".join(metrics.explain(bad))
    assert "(chance 10 %; good)" in said and "lower is better (good)" in said
    assert "a good GAN is within 3x" in bad_said and "below the 90 %" in bad_said
    assert (
        "a good GAN is below 0.01" in bad_said and "short of the real digits' variety" in bad_said
    )
    assert "look for copies" in said and "new digits, not copies" in bad_said  # training digits
    assert ("read as" in bad_said) == (max(bad["predicted_class_histogram"]) > 250)
    assert "read as" not in said  # ten digits, no collapse
    assert bad["frechet_distance"] > 10 * bad["frechet_floor"], bad
    assert bad["kid"] > 20 * max(bad["kid_floor"], 0.01)
    assert bad["coverage"] < 0.2 and bad["recall"] < 0.2
    assert bad["memorisation_ratio"] > 1.5

    held_out = metrics.compare(d.x_test, d.y_test, reference, n=500, seed=1)
    assert 0.6 < held_out["memorisation_ratio"] < 1.5  # unseen digits: the real-test level


def test_compare_checks_the_images_and_labels_it_is_given(reference):
    from rlgen.gan import compare  # exported for scoring samples of your own

    d = reference.data
    x, y = d.x_test[:300], d.y_test[:300]
    with pytest.raises(UsageError, match=r"\(x \+ 1\) / 2"):
        compare(2 * x - 1, y, reference, n=300)  # had scored recall 0.82 against 0.49
    with pytest.raises(UsageError, match="divide 0-255 pixels by 255"):
        compare(np.round(x * 255), y, reference, n=300)  # recall 1.0
    with pytest.raises(UsageError, match=r"one-hot rows; give the digits themselves"):
        compare(x, np.eye(10)[y], reference, n=300)
    with pytest.raises(UsageError, match="300 generated images but 299 labels"):
        compare(x, y[:-1], reference, n=300)
    with pytest.raises(UsageError, match=r"shape \(300, 784\)"):
        compare(x.reshape(300, -1), y, reference, n=300)
    same = compare(x[..., 0], y, reference, n=300)  # (N, 28, 28) is taken as it is meant
    assert same == compare(x, y, reference, n=300)


def test_memorisation_is_judged_against_the_digits_the_gan_learnt_from(reference, rng):
    # near-copies of 300 training digits (shifted one pixel) were judged against all 4,000,
    # whose denser pool made real test digits look as close as the copies
    d = reference.data
    learnt = np.sort(rng.choice(len(d.x_train), 300, replace=False))
    copies = np.roll(d.x_train[learnt], 1, axis=2)
    full = metrics.compare(copies, d.y_train[learnt], reference, n=300, seed=1)
    own = metrics.compare(copies, d.y_train[learnt], reference, n=300, seed=1, learnt_from=learnt)
    assert own["memorisation_median_real_test"] > full["memorisation_median_real_test"]
    assert own["memorisation_ratio"] < full["memorisation_ratio"] - 0.05, (own, full)


def test_reference_is_cached_and_reused(reference, cache_dir):
    files = sorted(p.name for p in cache_dir.iterdir())
    assert any(f.endswith(".keras") and f"-v{metrics.REFERENCE_VERSION}-" in f for f in files)
    again = metrics.reference_classifier("mnist")
    x = reference.data.x_test[:20]
    np.testing.assert_allclose(again.probabilities(x), reference.probabilities(x), atol=1e-6)


def test_cas_of_real_digits_is_high(reference):
    d = reference.data
    cas = metrics.classifier_accuracy_score(d.x_train, d.y_train, d.x_test, d.y_test, steps=60)
    assert cas > 0.8


def test_the_reference_cnn_is_float32_under_mixed_precision(reference):
    # It is cached and shared by every later run: a float16 one would have changed every
    # figure of every run after a --mixed-precision one
    import keras

    d = reference.data
    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = metrics.train_reference(d.x_train[:64], d.y_train[:64], epochs=1)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    assert {layer.compute_dtype for layer in model.layers} == {"float32"}


def test_cas_real_scores_the_digits_the_gan_learnt_from(reference, monkeypatch):
    from types import SimpleNamespace

    from rlgen import datasets

    on_all = SimpleNamespace(training_indices=lambda y: np.arange(len(y)))
    # a GAN of the whole split is scored by the reference itself: nothing is trained
    with monkeypatch.context() as m:
        m.setattr(metrics, "_train_cnn", None)  # calling it would fail
        assert metrics.real_digits_score(on_all, reference) == reference.info["test_accuracy"]
    on_few = SimpleNamespace(training_indices=lambda y: datasets.subset(y, 100, seed=0))
    few = metrics.real_digits_score(on_few, reference)
    assert 0.3 < few < reference.info["test_accuracy"] - 0.05  # 100 digits teach less


def test_the_statistics_refuse_too_few_points(rng):
    # scipy's "Internal error in sqrtm", a NaN with a RuntimeWarning, an IndexError before
    one, many = rng.standard_normal((1, 4)), rng.standard_normal((50, 4))
    with pytest.raises(UsageError, match="at least 2 points in each, got 1 and 50"):
        metrics.frechet_distance(one, many)
    with pytest.raises(UsageError, match="at least 2 points"):
        metrics.kernel_inception_distance(many, one)
    with pytest.raises(UsageError, match="need more than 5 points on each side, got 50 and 5"):
        metrics.recall_coverage(many, many[:5])


def test_evaluate_checks_n_first_and_says_when_the_gan_learnt_from_other_digits(
    reference, capsys, monkeypatch
):
    from rlgen import datasets

    from .helpers import digits, tiny_gan

    gan = tiny_gan()
    with pytest.raises(UsageError, match="at least 10 images"):
        metrics.evaluate(gan, n=5)  # before, a reference CNN was trained first (30 s)
    x, y = digits(32, seed=7)  # not the config's training digits (all 4,000)
    gan.train(x, y, epochs=1, verbose=0)
    monkeypatch.setattr(datasets, "_WARNED", set())  # once per process: this test sees it
    figures = metrics.evaluate(gan, n=50, cas=False, reference=reference)
    assert figures["n"] == 50
    assert "trained on other images than the training digits its config names" in (
        capsys.readouterr().err
    )


def test_an_unconditional_gan_trained_on_its_own_digits_gets_no_warning(
    reference, capsys, monkeypatch
):
    from rlgen import datasets

    from .helpers import tiny_gan

    monkeypatch.setattr(datasets, "_WARNED", set())
    gan = tiny_gan(unconditional=True, train_size=100)
    x, _ = gan.load_data()
    gan.train(x, epochs=1, verbose=0)  # the images alone: fingerprinted with zero labels
    metrics.evaluate(gan, n=20, cas=False, reference=reference)
    assert "trained on other images" not in capsys.readouterr().err
