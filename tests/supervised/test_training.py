"""Short real trainings on small slices: each model must clearly beat chance."""

import json
import subprocess
import sys

import numpy as np
import pytest

from rlgen import datasets
from rlgen.errors import UsageError
from rlgen.runs import Run, create_run, read_json
from rlgen.supervised.training import Trainer, TrainingDiverged, default_config


def train(model, seed=0, **overrides):
    trainer = Trainer(model, default_config(model, **overrides), seed=seed)
    trainer.fit(verbose=0)
    return trainer, trainer.evaluate()


def test_mlp_beats_chance_on_small_slice():
    _, figures = train("mlp", train_size=1000, epochs=10)
    assert figures["test_accuracy"] > 0.75  # chance is 0.10
    assert figures["test_examples"] == 1000


def test_cnn_beats_chance_on_small_slice():
    _, figures = train("cnn", train_size=1000, epochs=5)
    assert figures["test_accuracy"] > 0.75


def test_rnn_mnist_rows_beats_chance():
    _, figures = train("rnn", task="mnist", units=32, train_size=1000, epochs=6, learning_rate=5e-3)
    assert figures["test_accuracy"] > 0.4  # chance is 0.10


@pytest.mark.parametrize("cell", ["simple", "gru"])
def test_rnn_learns_binary_addition_and_generalises_to_16_bits(cell):
    trainer, figures = train("rnn", cell=cell, epochs=25)
    assert figures["test_exact_sum_accuracy"] > 0.95  # chance: 2**-8
    assert figures["exact_sum_accuracy_16bit"] > 0.9
    x, y = datasets.encode_addition([[100, 27]], 8)
    np.testing.assert_array_equal(trainer.predict(x[0]).round(), y)  # one sum's bits
    with pytest.raises(UsageError, match="reads the operands' bits"):
        trainer.predict([[3, 5]])  # read as one step of "bits" 3 and 5 before, in silence


def test_iris_beats_chance_and_evaluates_arrays_of_ones_own():
    trainer, figures = train("iris", epochs=60)
    assert figures["test_accuracy"] >= 0.85  # chance is 1/3
    d = trainer.real_data  # evaluate(x, y) was a TypeError: Keras users expect it
    mine = trainer.evaluate(d.x_test, d.y_test)
    assert mine["accuracy"] == pytest.approx(figures["test_accuracy"]) and mine["examples"] == 30
    with pytest.raises(UsageError, match="one-hot rows; give the class indices themselves"):
        trainer.evaluate(d.x_test, np.eye(3)[d.y_test])
    with pytest.raises(UsageError, match="30 inputs but 29 labels"):
        trainer.evaluate(d.x_test, d.y_test[:-1])
    with pytest.raises(UsageError, match="takes both the inputs and their labels"):
        trainer.evaluate(d.x_test)


def test_single_layer_perceptron_cannot_learn_xor_but_a_hidden_layer_can():
    _, flat = train("perceptron", gate="xor", hidden=0)
    _, deep = train("perceptron", gate="xor", hidden=8)  # 20 seeds of 20 (BENCHMARKS.md)
    _, and_gate = train("perceptron", gate="and", hidden=0)
    assert flat["test_accuracy"] <= 0.75  # no line separates XOR
    assert deep["test_accuracy"] == 1.0
    assert and_gate["test_accuracy"] == 1.0


def test_polynomial_beats_linear_on_a_cubic():
    _, linear = train("regression", degree=1)
    trainer, cubic = train("regression", degree=3)
    assert cubic["test_loss"] < 0.5 * linear["test_loss"]
    np.testing.assert_allclose(cubic["coefficients"], cubic["true_coefficients"], atol=0.25)
    # predict takes values of x, whatever the degree: three values were read as one row of
    # features (x, x^2, x^3) and gave one prediction
    xs = np.array([-1.0, 0.5, 1.5], np.float32)
    expected = np.polyval(cubic["true_coefficients"][::-1], xs)[:, None]
    assert trainer.predict(xs).shape == (3, 1)
    np.testing.assert_allclose(trainer.predict(xs), expected, atol=0.3)
    np.testing.assert_allclose(trainer.predict(xs[:, None]), trainer.predict(xs), atol=1e-6)
    features = np.stack([xs, xs**2, xs**3], axis=1)  # the splits' own form
    np.testing.assert_allclose(trainer.predict(features), trainer.predict(xs), atol=1e-6)
    assert trainer.predict(0.5).shape == (1, 1)


def test_same_seed_same_weights():
    a, _ = train("iris", seed=3, epochs=5)
    b, _ = train("iris", seed=3, epochs=5)
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    # with the geometric jitter too: its layers, mapped in parallel, drew their random
    # numbers in another order every run (test accuracy 0.378, 0.439, 0.369 for one seed)
    a, _ = train("mlp", seed=3, epochs=1, train_size=300, geometric=True, hidden=(32,))
    b, _ = train("mlp", seed=3, epochs=1, train_size=300, geometric=True, hidden=(32,))
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_save_then_load_in_a_fresh_process_gives_same_predictions(tmp_path):
    trainer, _ = train("cnn", train_size=300, epochs=1)
    trainer.save(tmp_path / "run")
    x = trainer.data.x_test[:16]
    np.save(tmp_path / "x.npy", x)
    expected = trainer.model(x, training=False).numpy()
    code = (
        "import sys, numpy as np\n"
        "from rlgen.supervised.training import Trainer\n"
        "t = Trainer.load(sys.argv[1])\n"
        "np.save(sys.argv[3], t.model(np.load(sys.argv[2]), training=False).numpy())\n"
    )
    subprocess.run(
        [sys.executable, "-c", code, tmp_path / "run", tmp_path / "x.npy", tmp_path / "y.npy"],
        check=True,
    )
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-6)
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["task"] == "cnn" and meta["config"]["train_size"] == 300


def test_nan_loss_stops_training_and_keeps_last_good_checkpoint(tmp_path):
    run = create_run("supervised", "regression", out=tmp_path / "run")
    trainer = Trainer(
        "regression",
        default_config("regression", optimizer="sgd", learning_rate=0.2, epochs=50, degree=3),
        seed=0,
    )
    with pytest.raises(TrainingDiverged, match="(NaN|inf).*the last good model is in"):
        trainer.fit(run, verbose=0)
    # the epochs that finished before the blow-up were logged with finite losses, and the
    # checkpoint holds their finite weights, not the diverged ones
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) > 1 and all("nan" not in row.lower() for row in history)
    assert_finite_model(tmp_path / "run" / "checkpoint" / "model.keras")


def assert_finite_model(path):
    from rlgen.runs import load_model

    weights = load_model(path).get_weights()
    assert weights and all(np.isfinite(w).all() for w in weights)


def test_a_second_fit_goes_on_counting_epochs():
    # the history read [1, 2, 1, 2], as if training had started again
    trainer = Trainer("iris", default_config("iris", epochs=2))
    trainer.fit(verbose=0)
    first = trainer.model.get_weights()
    history = trainer.fit(verbose=1)
    assert history["epoch"] == [1, 2, 3, 4] and len(history["loss"]) == 4
    assert any(not np.array_equal(a, b) for a, b in zip(first, trainer.model.get_weights()))


def test_a_further_fit_goes_on_with_the_random_streams_and_still_reproduces():
    """Each fit() went back to the seed: it reset the caller's NumPy stream, and a second
    fit() replayed the first one's shuffle orders and dropout masks."""
    runs = []
    for _ in range(2):
        trainer = Trainer("iris", default_config("iris", epochs=1, batch_size=8))
        trainer.fit(verbose=0)
        after_first = np.random.random()
        d = trainer.data
        order = [trainer._dataset(d.x_train, d.y_train, True, done) for done in (0, 1)]
        trainer.fit(verbose=0)
        assert np.random.random() != after_first  # not seeded again
        runs.append(trainer.model.get_weights())
    firsts = [np.concatenate([y.numpy() for _, y in ds]) for ds in order]
    assert not np.array_equal(*firsts)  # the second fit's first epoch is another order
    for a, b in zip(*runs):  # and the same seed still gives the same model
        np.testing.assert_array_equal(a, b)


def test_seeds_are_checked_by_rlgen_not_by_numpy_or_keras():
    from rlgen.gan.dcgan import GAN

    for bad in (1.5, -1, 2**32):
        with pytest.raises(UsageError, match="^seed must be a whole number"):
            Trainer("iris", seed=bad)
        with pytest.raises(UsageError, match="^seed must be a whole number"):
            GAN(seed=bad)


def test_unknown_task_and_wrong_config_type():
    with pytest.raises(UsageError, match="unknown model"):
        Trainer("transformer")
    with pytest.raises(UsageError, match="cnn takes CNNConfig or a dict"):
        Trainer("cnn", default_config("mlp"))


def test_geometric_augmentation_changes_training_images_only():
    trainer = Trainer("cnn", default_config("cnn", train_size=200, geometric=True), seed=0)
    x, y = trainer.data.x_train[:16], trainer.data.y_train[:16]
    batch_x, batch_y = next(iter(trainer._dataset(x, y, training=True).unbatch().batch(16)))
    assert batch_x.shape == x.shape and float(np.max(batch_x)) <= 1.0 + 1e-6
    assert sorted(batch_y.numpy().tolist()) == sorted(y.tolist())  # labels untouched
    plain = next(iter(trainer._dataset(x, y, training=False)))[0].numpy()
    np.testing.assert_array_equal(plain, x)  # evaluation data is never augmented
    shuffled_sorted = np.sort(batch_x.numpy().reshape(16, -1).sum(axis=1))
    assert not np.allclose(shuffled_sorted, np.sort(x.reshape(16, -1).sum(axis=1)), atol=1e-3)


def test_augmented_images_stay_float32_under_mixed_precision():
    # The jitter layers took the float16 policy: training images were rounded, test ones not
    import keras

    from rlgen.supervised.training import geometric_augmentation

    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        jitter = geometric_augmentation(seed=0)
    finally:
        keras.mixed_precision.set_global_policy(policy)
    out = jitter(np.full((2, 28, 28, 1), 0.3, np.float32), training=True)
    assert out.dtype == "float32"


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"synthetic": 100}, "synthetic needs augment_from"),
        ({"augment_from": "runs/gan"}, "augment_from needs synthetic=N"),
        ({"synthetic": -1, "augment_from": "x"}, "synthetic must be >= 0"),
        ({"synthetic": 10**7, "augment_from": "x"}, "synthetic must be at most 500,000"),
    ],
)
def test_augmentation_flags_are_checked(overrides, message):
    with pytest.raises(UsageError, match=message):
        default_config("cnn", **overrides)


def test_augmenting_the_addition_rnn_is_a_config_error():
    with pytest.raises(UsageError, match="needs task='mnist'"):
        default_config("rnn", task="addition", augment_from="runs/gan", synthetic=5)


def test_the_checkpoint_holds_the_last_epoch_however_often_it_is_written(tmp_path):
    # written at most every 10 s: a 1-second demo would otherwise keep epoch 1's model
    run = create_run("supervised", "perceptron", out=tmp_path / "run")
    trainer = Trainer("perceptron", default_config("perceptron", epochs=30), seed=0)
    trainer.fit(run, verbose=0)
    from rlgen.runs import load_model

    saved = load_model(tmp_path / "run" / "checkpoint" / "model.keras").get_weights()
    for a, b in zip(saved, trainer.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # the run holds the model itself, as the command line's do ("no config.json" before)
    loaded = Trainer.load(run.path)
    np.testing.assert_array_equal(
        loaded.predict(loaded.data.x_test), trainer.predict(loaded.data.x_test)
    )


def test_ctrl_c_mid_epoch_keeps_the_last_finished_epoch(tmp_path):
    # the checkpoint was the weights part-way into the next epoch
    import keras

    from rlgen.runs import load_model

    ends = []

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append([w.copy() for w in self.model.get_weights()])

        def on_train_batch_end(self, batch, logs=None):
            if len(ends) == 2 and batch == 3:
                raise KeyboardInterrupt

    run = create_run("supervised", "mlp", out=tmp_path / "run")
    trainer = Trainer("mlp", default_config("mlp", train_size=600, epochs=5, hidden=(16,)), seed=0)
    with pytest.raises(KeyboardInterrupt, match="last finished epoch"):
        trainer.fit(run, verbose=0, callbacks=[CtrlC()])
    assert trainer.history["epoch"] == [1, 2]
    saved = load_model(tmp_path / "run" / "checkpoint" / "model.keras").get_weights()
    for a, b in zip(saved, ends[-1], strict=True):
        np.testing.assert_array_equal(a, b)
    # the run says what it is from its first file: a save into it (or another fit) is of its
    # own kind, and another kind's save is refused
    assert read_json(tmp_path / "run" / "config.json")["task"] == "mlp"
    iris = Trainer("iris", {"epochs": 1})
    with pytest.raises(UsageError, match="holds an rlgen mlp run"):
        iris.fit(Run(tmp_path / "run"), verbose=0)


def test_configs_take_paths_and_check_runtime_types(tmp_path, monkeypatch):
    from rlgen.gan.configs import GANConfig
    from rlgen.runtime import RuntimeConfig
    from rlgen.supervised.configs import CNNConfig

    assert CNNConfig(data_dir=tmp_path).data_dir == str(tmp_path)  # a Path, as Python writes
    # kept absolute, as the command line keeps it: a run saved from Python with a relative
    # data_dir could not find its data when loaded from another folder
    monkeypatch.chdir(tmp_path)
    assert CNNConfig(data_dir="mine.npz").data_dir == str(tmp_path / "mine.npz")
    assert GANConfig(data_dir="mine.npz").data_dir == str(tmp_path / "mine.npz")
    with pytest.raises(ValueError, match="'threads' must be int"):
        RuntimeConfig(threads="2")
    with pytest.raises(ValueError, match="device must be one of"):
        RuntimeConfig(device="tpu")


def test_predict_takes_images_the_ways_students_hold_them_and_refuses_the_rest(tmp_path, capsys):
    trainer = Trainer("mlp", default_config("mlp", train_size=200, epochs=1), seed=0)
    with pytest.raises(UsageError, match="not trained yet"):
        trainer.predict(np.zeros((1, 28, 28, 1)))
    with pytest.raises(UsageError, match="not trained yet"):
        trainer.save(tmp_path / "early")
    assert not (tmp_path / "early").exists()
    trainer.fit(verbose=0)
    x = trainer.real_data.x_test[:3]
    want = trainer.predict(x)
    assert want.shape == (3, 10)
    # (N, 28, 28) and (N, 784) failed inside Keras, and one image needed x[None]
    for form in (x[..., 0], x.reshape(3, 784), list(x)):
        np.testing.assert_allclose(trainer.predict(form), want, atol=1e-6)
    for one in (x[0], x[0, ..., 0], x[0].reshape(784)):
        np.testing.assert_allclose(trainer.predict(one), want[:1], atol=1e-6)
    np.testing.assert_allclose(trainer.predict(x), want, atol=1e-6)  # after other shapes
    datasets._WARNED.clear()
    trainer.predict(1 - x)  # dark ink on white, as a photo of paper is: said, not guessed
    assert "mostly light, dark digits on white" in capsys.readouterr().err
    trainer.predict(x)
    assert "mostly light" not in capsys.readouterr().err
    garments = Trainer("mlp", {"dataset": "fashion_mnist"})  # coats and pullovers are light
    garments.model = trainer.model
    garments.predict(1 - x)
    assert "mostly light" not in capsys.readouterr().err
    # 0-255 pixels gave confident nonsense, NaN finite probabilities, an empty batch a crash
    with pytest.raises(UsageError, match="divide 0-255 pixels by 255"):
        trainer.predict(np.round(x * 255).astype(np.uint8))
    bad = x.copy()
    bad[0, 3, 3, 0] = np.nan
    with pytest.raises(UsageError, match="NaN"):
        trainer.predict(bad)
    with pytest.raises(UsageError, match="batch of 0"):
        trainer.predict(x[:0])
    with pytest.raises(UsageError, match=r"shape \(3, 27, 27\) do not fit"):
        trainer.predict(x[:, :27, :27, 0])
    with pytest.raises(UsageError, match="array of numbers"):
        trainer.predict({"image": x})
    # Keras' fit(x, y) bound x to run and y to verbose (a NumPy truth-value error)
    with pytest.raises(UsageError, match="np.savez"):
        trainer.fit(x, np.arange(3))


def test_save_refuses_a_keras_file_name_and_another_models_folder(tmp_path):
    trainer, _ = train("iris", epochs=2)
    with pytest.raises(UsageError, match="writes a folder.*e.g. .*mine"):
        trainer.save(tmp_path / "mine.keras")
    assert not (tmp_path / "mine.keras").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot write .*give a folder you can write to"):
        trainer.save(tmp_path / "file" / "model")
    mlp = Trainer("mlp", default_config("mlp", train_size=100, epochs=1))
    mlp.fit(verbose=0)
    mlp.save(tmp_path / "mlp")
    before = (tmp_path / "mlp" / "model.keras").read_bytes()
    with pytest.raises(UsageError, match="holds an rlgen mlp run; save this one to a new folder"):
        trainer.save(tmp_path / "mlp")
    assert (tmp_path / "mlp" / "model.keras").read_bytes() == before
    trainer.save(tmp_path / "iris")
    trainer.save(tmp_path / "iris")  # the same model again: fine
    # a folder of the user's own (a project, a data folder, "."): its model.keras and
    # history.csv were overwritten without a word
    mine = tmp_path / "project"
    mine.mkdir()
    (mine / "model.keras").write_bytes(b"my own model")
    (mine / "notes.txt").write_text("kept")
    with pytest.raises(UsageError, match=r"project holds model.keras but no rlgen save"):
        trainer.save(mine)
    assert (mine / "model.keras").read_bytes() == b"my own model"
    assert sorted(p.name for p in mine.iterdir()) == ["model.keras", "notes.txt"]
    (mine / "model.keras").unlink()
    trainer.save(mine)  # files of other names are the user's business, and stay
    assert (mine / "notes.txt").read_text() == "kept"


def test_iris_model_reads_flowers_measured_in_cm(tmp_path):
    """The features were standardised outside the model with statistics nobody kept, so the
    model predicted one species for real measurements (33 % right on the 150 flowers)."""
    from sklearn.datasets import load_iris

    flowers = load_iris()
    trainer, figures = train("iris", epochs=60)
    right = trainer.predict(flowers.data).argmax(axis=1) == flowers.target
    assert right.mean() >= 0.85 and figures["test_accuracy"] >= 0.85
    np.testing.assert_allclose(
        trainer.predict([5.1, 3.5, 1.4, 0.2]), trainer.predict(flowers.data[:1]), atol=1e-6
    )
    trainer.save(tmp_path / "iris")
    loaded = Trainer.load(tmp_path / "iris")
    np.testing.assert_allclose(
        loaded.predict(flowers.data), trainer.predict(flowers.data), atol=1e-6
    )


def test_an_iris_run_saved_before_the_model_standardised_reads_cm_too(tmp_path):
    """Such a model was trained on standardised features; loading wraps it so that it takes cm
    and predicts what it did."""
    import keras
    from sklearn.datasets import load_iris

    from rlgen.supervised import models

    trainer = Trainer("iris", default_config("iris", epochs=1, validation_split=0.3))
    cm = datasets.load_iris().x_train  # all 120 flowers: what load_iris standardised with
    mean, std = cm.mean(axis=0), cm.std(axis=0)
    old = models.build_iris()  # no standardise layer, as saved before
    old.compile("adam", "sparse_categorical_crossentropy")
    old.fit((cm - mean) / std, datasets.load_iris().y_train, epochs=20, verbose=0)
    trainer.model = old
    trainer.save(tmp_path / "old", extra={"test_fingerprint": "of-the-standardised-split"})
    loaded = Trainer.load(tmp_path / "old")
    assert loaded.tested_on is None  # no "not the test split" warning on eval
    flowers = load_iris().data.astype(np.float32)
    np.testing.assert_allclose(
        loaded.predict(flowers), old.predict((flowers - mean) / std, verbose=0), atol=1e-5
    )
    assert isinstance(loaded.model, keras.Model) and loaded.evaluate()["test_examples"] == 30
    assert datasets.load_iris().x_train.shape == (120, 4)


def test_predict_takes_n_values_for_a_one_input_model_and_fit_names_a_path_mistake():
    trainer, _ = train("regression", degree=1, epochs=2)
    xs = np.linspace(-1, 1, 5)
    assert trainer.predict(xs).shape == (5, 1)  # Keras took (N,) for (N, 1); so does rlgen
    np.testing.assert_allclose(trainer.predict(xs), trainer.predict(xs[:, None]), atol=1e-6)
    with pytest.raises(UsageError, match=r"create_run\(...\), or save\(path\) after fit"):
        trainer.fit("runs/mine")


def test_a_further_fit_takes_epochs_and_batch_size_and_refuses_what_it_cannot_apply(tmp_path):
    """A dict config, one callback and fit(epochs=) as Keras users write them; a config
    changed after the model was built: optimizer='sgd' went on training with Adam while
    config.json said sgd, and batch_size=0 was a TensorFlow error."""
    import keras

    from rlgen.supervised.configs import IrisConfig

    class Count(keras.callbacks.Callback):
        epochs = 0

        def on_epoch_end(self, epoch, logs=None):
            Count.epochs += 1

    trainer = Trainer("iris", {"epochs": 2}, seed=0)
    assert trainer.config == default_config("iris", epochs=2)
    trainer.fit(verbose=0)
    trainer.config.optimizer = "sgd"  # right after the first fit, on the live config
    with pytest.raises(UsageError, match="config.optimizer changed from 'adam' to 'sgd'"):
        trainer.fit(verbose=0)
    trainer.config.optimizer = "adam"
    trainer.config.epochs, trainer.config.batch_size = 3, 16
    first = trainer.fit(verbose=0)
    trainer.fit(verbose=0, epochs=2, callbacks=Count())  # one callback, not a list
    assert Count.epochs == 2 and trainer.history["epoch"] == [1, 2, 3, 4, 5, 6, 7]
    assert first["epoch"] == [1, 2, 3, 4, 5]  # what that fit returned (it grew, as the live one)
    trainer.config.batch_size = 0
    with pytest.raises(UsageError, match="^batch_size must be > 0"):
        trainer.fit(verbose=0)
    trainer.config.batch_size = 16
    loaded = Trainer.load(trainer.save(tmp_path / "iris"))
    loaded.config.learning_rate = 0.5  # after load, before any fit
    with pytest.raises(UsageError, match="config.learning_rate changed from 0.01 to 0.5"):
        loaded.fit(verbose=0)
    with pytest.raises(UsageError, match="^epochs must be > 0"):
        Trainer("iris", seed=0).fit(verbose=0, epochs=0)
    mistyped = Trainer("mlp", {"data_dir": str(tmp_path / "nowhere.npz"), "epochs": 1})
    with pytest.raises(UsageError, match="does not exist"):
        mistyped.fit(verbose=0)
    mistyped.config.data_dir = None  # a mistake mended: data that never loaded fixes nothing
    assert mistyped.data.sizes()["train"] > 0
    with pytest.raises(UsageError, match="mlp takes MLPConfig or a dict of its fields"):
        Trainer("mlp", IrisConfig())
    with pytest.raises(UsageError, match="unknown key 'epoch'"):
        Trainer("iris", {"epoch": 2})


def test_a_regression_run_draws_its_fit_and_states_it_as_a_polynomial(tmp_path, capsys):
    """The summary printed two lists of different lengths to 16 decimals, with no figure of
    the fit: "degree 1 underfits" could not be seen."""
    from rlgen.cli.common import print_figures

    run = create_run("supervised", "regression", out=tmp_path / "run")
    trainer = Trainer("regression", default_config("regression", degree=1, epochs=3))
    trainer.fit(run, verbose=0)
    assert (tmp_path / "run" / "fit.png").is_file() and trainer.title == "regression, degree 1"
    figures = trainer.evaluate()
    a, b = figures["coefficients"]
    sign = "-" if b < 0 else "+"
    assert figures["fitted"] == f"y = {a:.2f} {sign} {abs(b):.2f}x"
    assert figures["true"] == "y = 1.00 - 0.50x - 1.00x² + 0.50x³"
    print_figures({"coefficients": [0.123456, -1.0], "predictions": {"00": 0.5, "01": 0.25}})
    shown = capsys.readouterr().out
    assert "[0.1235, -1.0000]" in shown and "00: 0.500, 01: 0.250" in shown


def test_a_loaded_trainer_goes_on_from_its_history(tmp_path):
    """Loaded, it counted epochs from 1 again (and replayed the first epochs' orders), and a
    folder saved from Python kept no history."""
    run = create_run("supervised", "iris", out=tmp_path / "run")
    Trainer("iris", default_config("iris", epochs=2)).fit(run, verbose=0)
    loaded = Trainer.load(tmp_path / "run")
    assert loaded.history["epoch"] == [1, 2] and len(loaded.history["loss"]) == 2
    loaded.fit(epochs=1, verbose=0)
    assert loaded.history["epoch"] == [1, 2, 3]
    loaded.save(tmp_path / "saved")
    again = Trainer.load(tmp_path / "saved")
    assert again.history == loaded.history
    (tmp_path / "saved" / "history.csv").write_text("epoch,loss\n1,oops\n")  # damaged
    assert Trainer.load(tmp_path / "saved").history == {}  # evaluating does not need it


def test_saving_a_further_trained_model_into_its_run_remakes_the_summary(tmp_path):
    """Loaded, trained on and saved back into its command-line run, the model's summary.json
    kept the old test figures and epochs, and history.png the old curves."""
    run = create_run("supervised", "iris", out=tmp_path / "run")
    first = Trainer("iris", default_config("iris", epochs=2))
    first.fit(run, verbose=0)
    run.write_json("summary.json", {"task": "iris", **first.evaluate(), "epochs": 2, "seconds": 1})
    (run.path / "history.png").unlink()
    loaded = Trainer.load(run.path)
    loaded.save(run.path)  # nothing trained since: the summary stands, nothing re-plotted
    assert not (run.path / "history.png").exists()
    loaded.fit(epochs=40, verbose=0)
    loaded.save(run.path)
    summary = json.loads((run.path / "summary.json").read_text())
    assert summary["epochs"] == 42 and summary["seconds"] == 1  # the rest kept
    assert summary["test_loss"] == pytest.approx(loaded.evaluate()["test_loss"])
    assert summary["test_loss"] != pytest.approx(first.evaluate()["test_loss"])
    assert (run.path / "history.png").is_file()


def test_a_model_file_from_another_run_is_named_on_load(tmp_path):
    """Another run's model.keras copied in failed in Keras at the first evaluate (exit 1)."""
    import shutil

    iris = Trainer("iris", default_config("iris", epochs=1))
    iris.fit(verbose=0)
    iris.save(tmp_path / "iris")
    mlp = Trainer("mlp", default_config("mlp", train_size=100))
    mlp.model = mlp.build_model()
    mlp.save(tmp_path / "mlp")
    shutil.copy(tmp_path / "iris" / "model.keras", tmp_path / "mlp" / "model.keras")
    with pytest.raises(
        UsageError,
        match=r"model.keras does not fit .*config.json: it takes "
        r"\(4,\) and gives \(3,\), where .* takes \(28, 28, 1\) and gives \(10,\)",
    ):
        Trainer.load(tmp_path / "mlp")
    assert Trainer.load(tmp_path / "iris").evaluate()["test_accuracy"] >= 0  # its own: fine


def test_callbacks_that_are_not_keras_callbacks_are_named():
    """fit(callbacks=5) was "TypeError: Value after * must be an iterable, not int"."""
    import keras

    trainer = Trainer("iris", default_config("iris", epochs=1))
    for bad, kind in ((5, "int"), ([keras.callbacks.History(), "x"], "str")):
        with pytest.raises(UsageError, match=f"Callback or a list of them, got {kind}$"):
            trainer.fit(verbose=0, callbacks=bad)
