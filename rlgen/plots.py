"""Figures written into run folders: training history, learning curves, digit grids, a
regression's fit.

Built as ``matplotlib.figure.Figure`` objects, without pyplot: drawing one changes no
backend and opens no window, so a notebook's inline plots keep working. Each function writes
``path`` and returns it, or returns the Figure itself when ``path`` is None (a notebook shows
it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rlgen.runs import atomic_path


def _figure(**kwargs):
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _save(fig, path: str | Path | None):
    """Write ``fig`` to ``path`` (its suffix names the format) and return the path; with no
    path, return the Figure."""
    if path is None:
        return fig
    with atomic_path(path) as tmp:
        fig.savefig(
            tmp, dpi=100, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png"
        )
    return Path(path)


def plot_history(
    history: dict[str, Sequence[float]],
    path: str | Path | None = None,
    title: str = "",
    names: dict[str, str] | None = None,
):
    """Loss and the first other metric per epoch, train and validation, side by side.
    ``history``: a dict of lists (``trainer.history``) or the History Keras' ``fit`` returns;
    ``names``: axis labels for its keys ({"accuracy": "bit accuracy"}, say)."""
    from rlgen.errors import UsageError

    history = getattr(history, "history", history)  # keras.callbacks.History
    if not hasattr(history, "keys"):
        raise UsageError(
            f"plot_history takes a dict of per-epoch lists, not {type(history).__name__}"
        )
    metrics = [k for k in history if not k.startswith("val_") and k not in ("epoch", "seconds")]
    # the loss, then another: a GAN's two losses (d_loss, g_loss) before its scores
    metrics = sorted(metrics, key=lambda k: (k != "loss", not k.endswith("loss")))[:2]
    if not metrics:  # matplotlib: "Number of columns must be a positive integer, not 0"
        raise UsageError(
            "plot_history: the history holds no metrics (a trainer's or a GAN's is empty until "
            "it trains; a run's is in its history.csv, a GAN run's in metrics.csv)"
        )
    fig = _figure(figsize=(5 * len(metrics), 3.6))
    axes = fig.subplots(1, len(metrics), squeeze=False)
    for ax, key in zip(axes[0], metrics):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", ms=3, label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel((names or {}).get(key, key))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def polynomial(coefficients: Sequence[float], digits: int = 2) -> str:
    """``y = 1.00 - 0.50x - 1.00x² + 0.50x³`` of coefficients from the constant up."""
    powers = ["", "x", "x²", "x³", "x⁴", "x⁵", "x⁶", "x⁷", "x⁸", "x⁹"]
    terms = []
    for k, a in enumerate(coefficients):
        a = round(float(a), digits) + 0.0  # -0.001 is 0.00, not -0.00
        power = powers[k] if k < len(powers) else f"x^{k}"
        value = f"{abs(a):.{digits}f}{power}"
        if not terms:
            terms.append(f"-{value}" if a < 0 else value)
        else:
            terms.append(f"{'-' if a < 0 else '+'} {value}")
    return "y = " + " ".join(terms)


def plot_regression_fit(
    x: Sequence[float],
    y: Sequence[float],
    fitted: Sequence[float],
    true: Sequence[float] | None = None,
    path: str | Path | None = None,
    title: str = "",
):
    """The data points, the true polynomial (if known) and the fitted one, over the data's
    range (coefficients from the constant up): what "degree 1 underfits" looks like."""
    x, y = np.asarray(x, float).reshape(-1), np.asarray(y, float).reshape(-1)
    grid = np.linspace(x.min(), x.max(), 200)

    def curve(coefficients: Sequence[float]) -> np.ndarray:
        return sum(a * grid**k for k, a in enumerate(coefficients))

    fig = _figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.scatter(x, y, s=8, alpha=0.4, color="gray", label="data (with noise)")
    if true is not None:
        ax.plot(grid, curve(true), "--", color="black", lw=1.5, label=f"true: {polynomial(true)}")
    ax.plot(grid, curve(fitted), color="tab:red", lw=2, label=f"fitted: {polynomial(fitted)}")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_learning_curve(
    steps: Sequence[float],
    returns: Sequence[float],
    path: str | Path | None = None,
    eval_steps: Sequence[float] = (),
    eval_returns: Sequence[float] = (),
    window: int = 20,
    title: str = "",
    xlabel: str = "environment steps",
):
    """Episode returns (raw and moving average) and evaluation returns against steps."""
    fig = _figure(figsize=(7, 4))
    ax = fig.subplots()
    steps, returns = np.asarray(steps, float), np.asarray(returns, float)
    if len(returns):
        ax.plot(steps, returns, alpha=0.3, lw=0.8, label="episode return")
        w = min(window, len(returns))
        smooth = np.convolve(returns, np.ones(w) / w, mode="valid")
        ax.plot(steps[w - 1 :], smooth, lw=1.8, label=f"mean of last {w}")
    if len(eval_returns):
        ax.plot(eval_steps, eval_returns, "o-", color="black", ms=4, label="evaluation (greedy)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("return")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_digit_grid(
    images: np.ndarray,
    path: str | Path | None = None,
    ncols: int = 10,
    labels: Sequence[str] | None = None,
):
    """A grid of images in [0, 1], ``ncols`` per row, optional titles: (N, 28, 28[, 1]),
    N rows of 784 pixels, or one image."""
    from rlgen.datasets import unit_pixels
    from rlgen.errors import UsageError

    images = unit_pixels(images, "the images")  # 0-255 pixels had saturated to white
    if images.ndim == 4 and images.shape[-1] == 1 or images.ndim == 3 and images.shape[2] == 1:
        images = images[..., 0]  # (N, 28, 28, 1), or one (28, 28, 1)
    if images.ndim == 1:
        images = images[None]  # one image of 784 pixels
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if images.shape[0] == images.shape[1]:
            images = images[None]  # one (28, 28) image
        elif side * side == images.shape[1]:
            images = images.reshape(len(images), side, side)  # N rows of 784 pixels
    if images.ndim != 3 or not len(images):
        raise UsageError(f"plot_digit_grid takes (N, 28, 28) images, not shape {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise UsageError(
            f"plot_digit_grid got {len(labels)} labels for {len(images)} images; give one each"
        )
    ncols = min(ncols, len(images))
    nrows = int(np.ceil(len(images) / ncols))
    height = 0.95 if labels is not None else 0.8  # room for the titles above each digit
    fig = _figure(figsize=(ncols * 0.8, nrows * height))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=7)
    return _save(fig, path)
