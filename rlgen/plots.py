"""Figures written into run folders: training history, learning curves, digit grids (Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rlgen.runs import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(
            tmp, dpi=100, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png"
        )
    plt.close(fig)
    return Path(path)


def plot_history(history: dict[str, Sequence[float]], path: str | Path, title: str = "") -> Path:
    """Loss and the first other metric per epoch, train and validation, side by side."""
    plt = _pyplot()
    metrics = [k for k in history if not k.startswith("val_") and k not in ("epoch", "seconds")]
    metrics = sorted(metrics, key=lambda k: k != "loss")[:2]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, key in zip(axes[0], metrics):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], marker="o", ms=3, label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_learning_curve(
    steps: Sequence[float],
    returns: Sequence[float],
    path: str | Path,
    eval_steps: Sequence[float] = (),
    eval_returns: Sequence[float] = (),
    window: int = 20,
    title: str = "",
    xlabel: str = "environment steps",
) -> Path:
    """Episode returns (raw and moving average) and evaluation returns against steps."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
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
    images: np.ndarray, path: str | Path, ncols: int = 10, labels: Sequence[str] | None = None
) -> Path:
    """A grid of (N, 28, 28[, 1]) images in [0, 1], ``ncols`` per row, optional titles."""
    plt = _pyplot()
    images = np.asarray(images).reshape(len(images), images.shape[1], images.shape[2])
    nrows = int(np.ceil(len(images) / ncols))
    height = 0.95 if labels is not None else 0.8  # room for the titles above each digit
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * 0.8, nrows * height), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=1)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=7)
    return _save(fig, path)
