"""How well `rlgen supervised predict` reads digits photographed on paper.

Real MNIST test digits are turned into the pictures students give `predict`: enlarged ten
times, dark ink on light paper, saved as PNG, then read back by
`rlgen.datasets.read_digit_image` and classified by the GAN's reference CNN (trained on the
real training split only). Variants:

- clean: white paper, black ink;
- shaded: paper lit unevenly (0.55 to 0.95 across the page) with sensor noise (sigma 0.03);
- specks: clean paper with three dark dots (radius 3 px) in the margins;
- off-centre: the digit in a corner of a 3x larger sheet of faintly textured paper;
- mnist png: the 28 x 28 digit itself saved as a PNG (light on black), not enlarged;
- dim photo: a 560 x 560 sheet photographed in dim light, its paper grey (0.42), the ink
  0.08, the digit anywhere on it, noise sigma 0.02;
- marker, tight: the strokes widened by 6 to 24 pixels (a felt marker), cropped to 0 to 3
  pixels around the ink;
- white frame: the 28 x 28 digit enlarged, light on black, inside a 12-pixel white frame (an
  image shown with margins).

The last three draw from their own random stream, so the first five read the same pictures as
before they were added.

The ceiling is the same CNN on the 28 x 28 digits themselves. Prints ONE JSON line.

    python benchmarks/predict_photos.py --digits 300 [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np


def photographs(
    digit: np.ndarray, rng: np.random.Generator, more: np.random.Generator
) -> dict[str, np.ndarray]:
    """The variants of one (28, 28) digit in [0, 1], as uint8 pictures of dark ink on paper."""
    from PIL import Image
    from scipy import ndimage

    big = Image.fromarray((digit * 255).astype(np.uint8)).resize((280, 280), Image.BILINEAR)
    ink = np.asarray(big, np.float32) / 255.0  # 1 where the pen went
    clean = 1.0 - ink
    out = {"clean": clean}
    light = np.linspace(0.55, 0.95, 280)[None, :] * np.ones((280, 1))
    out["shaded"] = light * (1.0 - 0.85 * ink) + rng.normal(0, 0.03, ink.shape)
    specks = clean.copy()
    ys, xs = np.indices(specks.shape)
    for _ in range(3):
        cy, cx = rng.choice([8, 271]), rng.integers(8, 272)  # top or bottom margin
        if rng.random() < 0.5:
            cy, cx = cx, cy  # or a side margin
        specks[(ys - cy) ** 2 + (xs - cx) ** 2 <= 9] = 0.0
    out["specks"] = specks
    sheet = 0.9 + rng.normal(0, 0.02, (840, 840))
    top, left = rng.integers(20, 120, size=2)
    sheet[top : top + 280, left : left + 280] = np.minimum(
        sheet[top : top + 280, left : left + 280], clean
    )
    out["off-centre"] = sheet
    out["mnist png"] = digit  # the 28 x 28 digit itself, light on black
    dim = np.full((560, 560), 0.42)
    top, left = more.integers(0, 281, size=2)
    dim[top : top + 280, left : left + 280] *= 1.0 - 0.8 * ink
    out["dim photo"] = dim + more.normal(0, 0.02, dim.shape)
    marker = ndimage.binary_dilation(ink > 0.5, iterations=int(more.integers(6, 25)))
    rows, cols = np.nonzero(marker)
    pad = int(more.integers(0, 4))
    marker = marker[
        max(rows.min() - pad, 0) : rows.max() + 1 + pad,
        max(cols.min() - pad, 0) : cols.max() + 1 + pad,
    ]
    out["marker, tight"] = np.where(marker, 0.1, 0.92) + more.normal(0, 0.02, marker.shape)
    out["white frame"] = np.pad(ink, 12, constant_values=1.0)
    return {k: (np.clip(v, 0, 1) * 255).astype(np.uint8) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--digits", type=int, default=300, help="test digits (default 300)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0, help="which digits, and their pictures")
    a = p.parse_args()
    from PIL import Image

    from rlgen import datasets, runtime
    from rlgen.gan import metrics

    runtime.configure(runtime.RuntimeConfig(threads=a.threads))
    reference = metrics.reference_classifier("mnist")
    d = reference.data
    rng = np.random.default_rng(a.seed)
    more = np.random.default_rng([a.seed, 1])
    idx = np.sort(rng.choice(len(d.x_test), a.digits, replace=False))
    x, y = d.x_test[idx], d.y_test[idx]
    read: dict[str, list[np.ndarray]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, digit in enumerate(x[..., 0]):
            for name, picture in photographs(digit, rng, more).items():
                path = Path(tmp) / f"{i}-{name}.png"
                Image.fromarray(picture).save(path)
                read.setdefault(name, []).append(datasets.read_digit_image(path))
    accuracy = {"28x28 digits (ceiling)": float(np.mean(reference.predict(x) == y))}
    for name, images in read.items():
        accuracy[name] = float(np.mean(reference.predict(np.stack(images)) == y))
    print(
        json.dumps(
            {
                "benchmark": "predict_photos",
                "digits": a.digits,
                "seed": a.seed,
                "accuracy": accuracy,
            }
        )
    )


if __name__ == "__main__":
    main()
