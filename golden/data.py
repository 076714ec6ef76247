"""The digits data set: scikit-learn's ``load_digits`` (1,797 8x8 images, shipped, no download).

Pixels are integers 0..16. Models see ``pixels / 16`` in [0, 1]; the integer models see that
quantized to int8 (scale 1/127 after calibration, so 16 -> 127). The train/test split is
stratified and seeded; ``seed=0``, ``test_fraction=0.3`` (1,257 train, 540 test) is the split every
figure in tessera is measured on.
"""

from dataclasses import dataclass

import numpy as np

from .errors import TesseraError

__all__ = ["PIXEL_MAX", "Digits", "load_digits_split"]

PIXEL_MAX = 16.0


@dataclass(frozen=True)
class Digits:
    """A train/test split of the digits, inputs in [0, 1] as float64 of shape (n, 64)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    seed: int
    test_fraction: float

    @staticmethod
    def images(x):
        """Reshape flat inputs ``(n, 64)`` to NHWC images ``(n, 8, 8, 1)``."""
        return np.asarray(x).reshape(-1, 8, 8, 1)


def load_digits_split(seed=0, test_fraction=0.3):
    """Load the digits and split them, stratified by class, with ``random_state=seed``.

    Raises
    ------
    TesseraError
        If ``test_fraction`` is not in (0, 1).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise TesseraError(f"test_fraction must be in (0, 1), not {test_fraction!r}")
    data = load_digits()
    x = data.data.astype(np.float64) / PIXEL_MAX
    y = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    return Digits(x_train, y_train, x_test, y_test, seed, test_fraction)
