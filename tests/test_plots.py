import numpy as np
import pytest
from PIL import Image

from rlgen import plots
from rlgen.errors import UsageError


def is_png(path):
    """A PNG of a drawn figure: the right format and size, and not one flat colour."""
    with Image.open(path) as img:
        drawn = np.asarray(img.convert("L"), np.float32).std() > 5.0
        return img.format == "PNG" and img.size[0] > 100 and img.size[1] > 50 and drawn


def test_history_plot(tmp_path):
    history = {"epoch": [1, 2, 3], "loss": [1.0, 0.5, 0.3], "accuracy": [0.5, 0.8, 0.9],
               "val_loss": [1.1, 0.6, 0.4], "val_accuracy": [0.4, 0.7, 0.85]}  # fmt: skip
    assert is_png(plots.plot_history(history, tmp_path / "h.png", title="cnn"))
    # what model.fit returns, a keras.callbacks.History, was "not iterable"; an empty
    # history (a loaded trainer's) a matplotlib error about columns
    fitted = type("History", (), {"history": history})()
    assert is_png(plots.plot_history(fitted, tmp_path / "fitted.png"))
    for bad, message in (({}, "holds no metrics"), ([0.5, 0.3], "dict of per-epoch lists")):
        with pytest.raises(UsageError, match=message):
            plots.plot_history(bad)
    # the addition RNN's "accuracy" is per bit: read as sums added right, it said 93 %
    figure = plots.plot_history(history, names={"accuracy": "bit accuracy"})
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss", "bit accuracy"]


def test_regression_fit_shows_data_truth_and_fit(tmp_path):
    x = np.linspace(-2, 2, 50)
    y = 1 - 0.5 * x - x**2 + 0.5 * x**3
    figure = plots.plot_regression_fit(x, y, [0.2, 0.7], [1, -0.5, -1, 0.5], title="degree 1")
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == [
        "data (with noise)",
        "true: y = 1.00 - 0.50x - 1.00x² + 0.50x³",
        "fitted: y = 0.20 + 0.70x",
    ]
    assert is_png(plots.plot_regression_fit(x, y, [0.2, 0.7], path=tmp_path / "fit.png"))
    assert plots.polynomial([-0.5, 0.0, -2.0]) == "y = -0.50 + 0.00x - 2.00x²"
    assert plots.polynomial([-0.001, 0.5, -1e-4]) == "y = 0.00 + 0.50x + 0.00x²"  # no -0.00


def test_digit_grids_take_the_shapes_images_come_in():
    # a list, flat rows and a single image were IndexErrors; 0-255 pixels saturated to white
    x = np.random.default_rng(0).random((12, 28, 28)).astype(np.float32)
    for form, drawn in ((list(x), 12), (x.reshape(12, 784), 12), (x[0], 1), (x[..., None], 12)):
        fig = plots.plot_digit_grid(form)
        assert sum(bool(ax.images) for ax in fig.axes) == drawn
    with pytest.raises(UsageError, match="divide 0-255 pixels by 255"):
        plots.plot_digit_grid(x * 255)
    with pytest.raises(UsageError, match=r"not shape \(3, 5\)"):
        plots.plot_digit_grid(np.zeros((3, 5)))


def test_learning_curve_and_digit_grid(tmp_path):
    steps = np.arange(1, 51) * 100
    returns = np.linspace(10, 500, 50)
    path = plots.plot_learning_curve(steps, returns, tmp_path / "lc.png", [1000, 5000], [50, 480])
    assert is_png(path)
    digits = np.random.default_rng(0).random((20, 28, 28, 1))
    grid = plots.plot_digit_grid(digits, tmp_path / "g.png", ncols=10, labels=list(range(20)))
    assert is_png(grid)
    assert {p.name for p in tmp_path.iterdir()} == {"g.png", "lc.png"}  # no temp files left


def test_plots_leave_a_notebooks_backend_alone_and_return_figures_without_a_path(tmp_path):
    """Drawing had switched matplotlib to Agg for good, so a notebook's inline plots stopped
    showing; and a history could only be drawn into a file."""
    import matplotlib
    from matplotlib.figure import Figure

    before = matplotlib.get_backend()
    matplotlib.use("pdf")  # a backend a user chose, as a notebook chooses its inline one
    try:
        history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6]}
        fig = plots.plot_history(history)
        assert isinstance(fig, Figure) and len(fig.axes) == 1
        assert fig.axes[0].get_ylabel() == "loss"
        assert isinstance(plots.plot_digit_grid(np.zeros((3, 28, 28))), Figure)
        assert is_png(plots.plot_learning_curve([1, 2, 3], [1, 2, 3], tmp_path / "lc.png"))
        assert matplotlib.get_backend() == "pdf"
    finally:
        matplotlib.use(before)
