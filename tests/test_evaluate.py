"""SSIM, MSE and PSNR per image, and their per-class and overall summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from genreport.pipeline.core.errors import CheckpointError
from genreport.pipeline.scoring.metrics import (
    VariantScores,
    check_finite,
    mse_per_image,
    per_class_summary,
    psnr_from_mse,
    reconstruct_images,
    ssim_per_image,
    summarise,
)


def test_identical_images_score_one() -> None:
    images = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    assert np.allclose(ssim_per_image(images, images), 1.0)
    assert np.allclose(mse_per_image(images, images), 0.0)


def test_ssim_is_scikit_image_with_data_range_one_on_float64() -> None:
    rng = np.random.default_rng(1)
    a = rng.random((2, 28, 28)).astype("float32")
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype("float32")
    expected = [structural_similarity(x.astype(np.float64), y.astype(np.float64), data_range=1.0) for x, y in zip(a, b)]
    assert ssim_per_image(a, b) == pytest.approx(expected, abs=1e-12)


def test_gaussian_ssim_differs_from_the_uniform_default() -> None:
    rng = np.random.default_rng(2)
    a = rng.random((2, 28, 28))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    assert not np.allclose(ssim_per_image(a, b), ssim_per_image(a, b, gaussian=True))


def test_psnr_of_known_mse() -> None:
    assert psnr_from_mse(np.array([0.01, 0.001])) == pytest.approx([20.0, 30.0])


def test_per_class_aggregation_on_a_hand_made_example() -> None:
    values = np.array([0.9, 0.7, 0.5, 0.6, 1.0])
    labels = np.array([0, 0, 2, 2, 2])
    rows = per_class_summary(values, labels, class_names=("a", "b", "c"))
    assert [r["class_name"] for r in rows] == ["a", "c"]
    assert rows[0]["mean"] == pytest.approx(0.8) and rows[0]["std"] == pytest.approx(np.std([0.9, 0.7], ddof=1))
    assert rows[1]["mean"] == pytest.approx(0.7) and rows[1]["count"] == 3


def test_overall_summary() -> None:
    summary = summarise(np.array([1.0, 2.0, 3.0, 4.0]))
    assert summary["mean"] == 2.5 and summary["median"] == 2.5 and summary["count"] == 4
    assert summary["std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))


def test_parallel_scoring_gives_the_same_numbers_as_one_process() -> None:
    from genreport.pipeline.scoring.metrics import both_ssims, parallel_ssims

    rng = np.random.default_rng(3)
    a = rng.random((2400, 28, 28, 1)).astype("float32")
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype("float32")
    serial = both_ssims(a, b)
    told: list[tuple[int, int]] = []
    parallel = parallel_ssims(a, b, workers=2, on_progress=lambda done, total: told.append((done, total)))
    assert np.array_equal(serial[0], parallel[0]) and np.array_equal(serial[1], parallel[1])
    assert told == [(240 * k, 2400) for k in range(1, 11)]  # progress after every tenth


def test_the_gaussian_ssim_is_wang_et_al_s_window() -> None:
    rng = np.random.default_rng(2)
    a = rng.random((2, 28, 28))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    expected = [structural_similarity(x, y, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False) for x, y in zip(a, b)]
    assert ssim_per_image(a, b, gaussian=True) == pytest.approx(expected, abs=1e-12)


def test_a_perfect_reconstruction_has_a_psnr_of_100_db() -> None:
    assert psnr_from_mse(np.array([0.0])) == pytest.approx([100.0])


def test_the_summary_gives_the_5th_percentile_and_the_extremes() -> None:
    summary = summarise(np.arange(1.0, 102.0))  # 1, 2, ..., 101
    assert (summary["p5"], summary["min"], summary["max"]) == pytest.approx((6.0, 1.0, 101.0))


def test_the_interval_of_a_variant_is_around_its_mean_ssim() -> None:
    rng = np.random.default_rng(4)
    ssim = rng.normal(0.8, 0.05, 500)
    mse = rng.normal(0.01, 0.002, 500)
    scores = VariantScores("base", ssim=ssim, ssim_gaussian=ssim - 0.01, mse=mse, psnr=psnr_from_mse(mse))
    summary = scores.summary_with_interval(np.arange(500) % 10, np.random.default_rng(5))
    low, high = summary["ssim"]["ci95"]
    assert low < summary["ssim"]["mean"] < high and high - low < 0.02


def test_non_finite_reconstructions_are_counted_per_image_holding_one() -> None:
    values = np.zeros((3, 28, 28, 1), np.float32)
    values[1, 4, 4, 0] = np.nan
    with pytest.raises(CheckpointError, match="1 of 3 images hold NaN"):
        check_finite(values, "model 'base'")


def test_reconstructions_are_clipped_to_the_unit_range(real_data_dir) -> None:
    import keras

    from genreport.pipeline.data.fashion_mnist import load_dataset

    images = load_dataset(real_data_dir, train_limit=100, test_limit=20, seed=0).x_test
    inputs = keras.Input((28, 28, 1))
    conv = keras.layers.Conv2D(1, 1, activation="linear", dtype="float32")
    model = keras.Model(inputs, conv(inputs))
    conv.set_weights([np.full((1, 1, 1, 1), 3.0, np.float32), np.array([-1.0], np.float32)])  # 3x - 1 spans [-1, 2]
    out = reconstruct_images(model, images).images
    assert out.min() == 0.0 and out.max() == 1.0
    assert np.allclose(out, np.clip(3 * images - 1, 0, 1), atol=1e-6)


def tiny_checkpoints(folder: Path, names: tuple[str, ...]) -> dict[str, Path]:
    """A small dense autoencoder saved once per name, as ``folder/NAME.keras``."""
    import keras

    paths = {name: folder / f"{name}.keras" for name in names}
    for path in paths.values():
        keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(8),
                          keras.layers.Dense(784, activation="sigmoid"), keras.layers.Reshape((28, 28, 1))]).save(path)
    return paths


def test_scoring_frees_each_model_before_it_loads_the_next(real_data_dir, tmp_path, monkeypatch) -> None:
    """A Keras model sits in reference cycles, so ``del`` alone frees none: without a collection
    between them, models near --max-model-gib would be in memory two or three at once."""
    import weakref

    import keras

    from genreport.pipeline.data.fashion_mnist import load_dataset
    from genreport.pipeline.scoring.score import score_checkpoints

    paths = tiny_checkpoints(tmp_path, ("first", "second", "third"))
    loaded, alive_at_each_load = [], []
    load_model = keras.saving.load_model

    def counting_load(path, *args, **kwargs):
        alive_at_each_load.append(sum(model() is not None for model in loaded))
        model = load_model(path, *args, **kwargs)
        loaded.append(weakref.ref(model))
        return model

    monkeypatch.setattr(keras.saving, "load_model", counting_load)
    score_checkpoints(paths, load_dataset(real_data_dir, train_limit=40, test_limit=10, seed=1))
    assert alive_at_each_load == [0, 0, 0]


def test_scoring_collects_garbage_without_walking_the_objects_alive_before_it(real_data_dir, tmp_path) -> None:
    """Sizing each model collects garbage to free the one before; the few hundred thousand objects
    TensorFlow keeps alive are frozen first, so only one collection walks them."""
    from conftest import explicit_collections_recorded
    from genreport.pipeline.data.fashion_mnist import load_dataset
    from genreport.pipeline.scoring.score import score_checkpoints

    paths = tiny_checkpoints(tmp_path, ("first", "second"))
    frozen: list[bool] = []
    with explicit_collections_recorded(frozen):
        score_checkpoints(paths, load_dataset(real_data_dir, train_limit=40, test_limit=10, seed=1))
    assert frozen[0] is False and all(frozen[1:]) and len(frozen) >= 1 + len(paths)  # the block's own, then one or more a model
