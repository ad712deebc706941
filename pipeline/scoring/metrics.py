"""Scoring reconstructions: SSIM (scikit-image), MSE and PSNR per image, per class and overall.

SSIM is ``skimage.metrics.structural_similarity`` on float64 28x28 arrays with
``data_range=1.0`` and its defaults: a 7x7 uniform window and sample covariance. A second SSIM,
Wang et al. (2004)'s Gaussian window (``gaussian_weights=True, sigma=1.5,
use_sample_covariance=False``), is kept beside it so figures compare with papers and
``tf.image.ssim``.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, Callable, Sequence

import numpy as np
from skimage.metrics import structural_similarity

from genreport.pipeline.data.fashion_mnist import CLASS_NAMES
from genreport.pipeline.core.errors import CheckpointError

SSIM_METHOD = {
    "function": "skimage.metrics.structural_similarity",
    "data_range": 1.0,
    "window": "7x7 uniform",
    "covariance": "sample",
    "dtype": "float64",
}
PARALLEL_MIN_IMAGES = 2000
PROGRESS_STEPS = 10  # parallel scoring runs in tenths, so progress can be told after each
GAUSSIAN_SSIM_METHOD = {
    "function": "skimage.metrics.structural_similarity",
    "data_range": 1.0,
    "window": "Gaussian, sigma 1.5 (11x11)",
    "covariance": "population",
    "reference": "Wang et al. 2004",
}


def ssim_per_image(originals: np.ndarray, reconstructions: np.ndarray, gaussian: bool = False) -> np.ndarray:
    """SSIM of each pair of 28x28 images (any trailing channel axis of size 1 is dropped)."""
    a = _as_2d_stack(originals)
    b = _as_2d_stack(reconstructions)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    options: dict[str, Any] = {"data_range": 1.0}
    if gaussian:
        options.update(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    return np.array([structural_similarity(x, y, **options) for x, y in zip(a, b)], dtype=np.float64)


def mse_per_image(originals: np.ndarray, reconstructions: np.ndarray) -> np.ndarray:
    """Mean squared error of each pair, in [0, 1] pixel units."""
    diff = _as_2d_stack(originals) - _as_2d_stack(reconstructions)
    return np.mean(diff * diff, axis=(1, 2))


def psnr_from_mse(mse: np.ndarray) -> np.ndarray:
    """PSNR in dB for data range 1; a perfect reconstruction is capped at 100 dB."""
    return 10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))


def _as_2d_stack(images: np.ndarray) -> np.ndarray:
    stack = np.asarray(images, dtype=np.float64)
    if stack.ndim == 4 and stack.shape[-1] == 1:
        stack = stack[..., 0]
    if stack.ndim != 3:
        raise ValueError(f"expected a stack of 2-D images, got shape {stack.shape}")
    return stack


def summarise(values: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation, median, 5th percentile, min and max of one metric."""
    values = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "median": float(np.median(values)),
        "p5": float(np.percentile(values, 5)),
        "min": float(values.min()),
        "max": float(values.max()),
        "count": int(len(values)),
    }


def per_class_summary(values: np.ndarray, labels: np.ndarray, class_names: Sequence[str] = CLASS_NAMES) -> list[dict[str, Any]]:
    """Mean and standard deviation of ``values`` for each class present, in label order."""
    rows = []
    for label, name in enumerate(class_names):
        members = np.asarray(values)[np.asarray(labels) == label]
        if len(members) == 0:
            continue
        rows.append(
            {
                "label": label,
                "class_name": name,
                "mean": float(members.mean()),
                "std": float(members.std(ddof=1)) if len(members) > 1 else 0.0,
                "count": int(len(members)),
            }
        )
    return rows


@dataclass
class VariantScores:
    """One variant's per-image figures on the test set."""

    variant: str
    ssim: np.ndarray
    ssim_gaussian: np.ndarray
    mse: np.ndarray
    psnr: np.ndarray

    def summary_with_interval(self, labels: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """``summary`` plus the seeded bootstrap 95% interval of the mean SSIM."""
        from genreport.pipeline.scoring.stats import bootstrap_mean_ci

        summary = self.summary(labels)
        summary["ssim"]["ci95"] = list(bootstrap_mean_ci(self.ssim, rng))
        return summary

    def summary(self, labels: np.ndarray) -> dict[str, Any]:
        """Overall and per-class figures as plain values."""
        return {
            "ssim": summarise(self.ssim),
            "ssim_gaussian": summarise(self.ssim_gaussian),
            "mse": summarise(self.mse),
            "psnr": summarise(self.psnr),
            "per_class": per_class_summary(self.ssim, labels),
        }


def both_ssims(originals: np.ndarray, reconstructions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uniform-window and Gaussian-window SSIM of each pair."""
    return ssim_per_image(originals, reconstructions), ssim_per_image(originals, reconstructions, gaussian=True)


ScoredSoFar = Callable[[int, int], None]  # (images scored, images in all)


def parallel_ssims(originals: np.ndarray, reconstructions: np.ndarray, workers: int | None = None,
                   on_progress: ScoredSoFar | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``both_ssims`` split over processes; the same numbers as one process, image by image.

    scikit-image's SSIM spends most of a 28x28 call in Python, so threads do not help; spawned
    processes (never forked from a process that holds TensorFlow) do. ``on_progress`` hears how
    many images are done after each tenth of them.
    """
    workers = workers or os.cpu_count() or 1
    if workers < 2 or len(originals) < PARALLEL_MIN_IMAGES:
        ssim, gaussian = both_ssims(originals, reconstructions)
        if on_progress:
            on_progress(len(originals), len(originals))
        return ssim, gaussian
    a, b = _as_2d_stack(originals), _as_2d_stack(reconstructions)
    chunks = np.array_split(np.arange(len(a)), PROGRESS_STEPS * -(-workers // PROGRESS_STEPS))  # every worker busy
    parts, done = [], 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        for chunk, part in zip(chunks, pool.map(both_ssims, [a[c] for c in chunks], [b[c] for c in chunks])):
            parts.append(part)
            done += len(chunk)
            if on_progress:
                on_progress(done, len(a))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def score_reconstructions(variant: str, originals: np.ndarray, reconstructions: np.ndarray,
                          on_progress: ScoredSoFar | None = None) -> VariantScores:
    """All per-image figures of one variant."""
    mse = mse_per_image(originals, reconstructions)
    ssim, ssim_gaussian = parallel_ssims(originals, reconstructions, on_progress=on_progress)
    return VariantScores(variant=variant, ssim=ssim, ssim_gaussian=ssim_gaussian, mse=mse, psnr=psnr_from_mse(mse))


def check_finite(reconstructions: np.ndarray, source: str) -> np.ndarray:
    """``reconstructions`` unchanged when every value is finite; else a CheckpointError naming ``source``.

    Clipping to [0, 1] would turn infinities into ordinary pixels and keep NaN, which then
    poisons every mean, so a model that produces either is refused before scoring.
    """
    values = np.asarray(reconstructions)
    finite = np.isfinite(values)
    if not finite.all():
        bad_images = int((~finite).reshape(len(values), -1).any(axis=1).sum()) if values.ndim else 1
        kinds = " and ".join(k for k, present in (("NaN", np.isnan(values).any()), ("infinity", np.isinf(values).any())) if present)
        raise CheckpointError(f"{source}: the model's reconstructions of {bad_images} of {len(values) if values.ndim else 1} images hold {kinds}; it cannot be scored")
    return reconstructions


@dataclass(frozen=True)
class Reconstruction:
    """A model's reconstructions of the test images as [0, 1] images of 28x28x1, and how they were made."""

    images: np.ndarray
    clipped_share: float  # of output pixels outside the model's pixel range, clipped before scoring
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    pixel_range: tuple[float, float]

    def facts(self) -> dict[str, Any]:
        """How the images went in and came out, as plain values for the results."""
        return {"input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
                "pixel_range": list(self.pixel_range), "clipped_share": self.clipped_share}


def image_shape_of(shape: Any) -> tuple[int, ...]:
    """The Fashion-MNIST image shape (28x28x1, 28x28 or 784) a model's input or output shape takes."""
    from genreport.pipeline.models.model_size import image_shape

    taken = image_shape(tuple(shape[1:]))
    if taken is None:
        raise CheckpointError(f"shape {tuple(shape)} is not a 28x28 image")
    return taken


def reconstruct_images(model: Any, images: np.ndarray, pixel_range: tuple[float, float] = (0.0, 1.0), batch_size: int = 512,
                       source: str | None = None) -> Reconstruction:
    """``images`` (28x28x1 in [0, 1]) reshaped and scaled to what ``model`` reads, reconstructed, and brought back.

    Values outside ``pixel_range`` are clipped to it (after a NaN/infinity check naming
    ``source``), and their share of all output pixels is recorded. For a 28x28x1 model on [0, 1]
    no arithmetic touches the values, so genreport's own checkpoints score as they always did.
    """
    low, high = pixel_range
    taken, given = image_shape_of(model.input_shape), image_shape_of(model.output_shape)
    fed = images.reshape((len(images), *taken))
    if (low, high) != (0.0, 1.0):
        fed = (low + fed.astype(np.float32) * np.float32(high - low)).astype(np.float32)
    out = np.asarray(model.predict(fed, batch_size=batch_size, verbose=0), dtype=np.float32)
    check_finite(out, source or f"model {getattr(model, 'name', '')!r}")
    if out.shape[1:] != given:
        raise CheckpointError(f"{source}: the model returned images of shape {out.shape[1:]}, not the {given} it declares")
    clipped = float(np.count_nonzero((out < low) | (out > high)) / out.size)
    out = np.clip(out, low, high)
    if (low, high) != (0.0, 1.0):
        out = np.clip((out - np.float32(low)) / np.float32(high - low), 0.0, 1.0).astype(np.float32)
    return Reconstruction(out.reshape((len(images), 28, 28, 1)), clipped, taken, given, (low, high))
