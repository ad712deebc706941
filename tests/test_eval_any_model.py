"""eval-only scores the autoencoders people bring: built the way Keras tutorials build them, named by their files.

The models are built here, each trained a few steps on real Fashion-MNIST images (one on [-1, 1]),
and scored together in one ``eval-only`` call; refusals use untrained models where only loading
matters.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from genreport.report.cli import main

TRAIN_IMAGES = 1024
USER_MODELS = ("denoise_conv", "dense_28x28", "flat_784", "strided_seq", "tanh_pm1")  # sorted, as a folder lists them


def training_images(data_dir: Path) -> np.ndarray:
    """A few real training images, 28x28x1 in [0, 1]."""
    from genreport.pipeline.data.fashion_mnist import load_split, to_unit_float

    return to_unit_float(load_split(data_dir, "train")[0][:TRAIN_IMAGES]).reshape((-1, 28, 28, 1))


def user_autoencoders() -> dict[str, object]:
    """Five autoencoders as public Keras examples write them (Sequential and functional, pooling, strides, dense)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(7)
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
    x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = layers.UpSampling2D(2)(x)
    denoise = keras.Model(inputs, layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x), name="denoise")
    strided = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
                                layers.Dropout(0.1), layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu"),
                                layers.Conv2D(1, 3, padding="same", activation="sigmoid")])
    dense = keras.Sequential([keras.Input((28, 28)), layers.Flatten(), layers.Dense(32, activation="relu"),
                              layers.Dense(784, activation="sigmoid"), layers.Reshape((28, 28))])
    flat = keras.Sequential([keras.Input((784,)), layers.Dense(32, activation="relu"), layers.BatchNormalization(),
                             layers.Dense(784, activation="sigmoid")])
    tanh = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(8, 3, padding="same", activation="tanh"),
                             layers.Conv2D(1, 3, padding="same", activation="tanh")])
    return {"denoise_conv": denoise, "strided_seq": strided, "dense_28x28": dense, "flat_784": flat, "tanh_pm1": tanh}


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path) -> Path:
    """A folder of the five models, each trained 96 steps on real images and saved as NAME.keras."""
    images = training_images(real_data_dir)
    folder = tmp_path_factory.mktemp("user") / "models"
    folder.mkdir()
    for name, model in user_autoencoders().items():
        shaped = images.reshape((len(images), *model.input_shape[1:]))
        shaped = shaped * 2.0 - 1.0 if name == "tanh_pm1" else shaped
        model.compile(optimizer="adam", loss="mse")
        model.fit(shaped, shaped, batch_size=32, epochs=3, verbose=0)
        model.save(folder / f"{name}.keras")
    return folder


@pytest.fixture(scope="module")
def user_run(user_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One eval-only call on the folder, the tanh model on [-1, 1]."""
    out = tmp_path_factory.mktemp("user-run") / "out"
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(user_folder), "--pixel-range", "tanh_pm1=-1,1",
                                       "--preset", "smoke", "--test-limit", "60", "--output", str(out), "--format", "html"])
    assert result.exit_code == 0, result.output
    return out


def metrics_of(out: Path) -> dict:
    return json.loads((out / "results" / "metrics.json").read_text())


def test_every_model_in_the_folder_is_scored_under_its_file_name(user_run: Path) -> None:
    assert list(metrics_of(user_run)["models"]) == list(USER_MODELS)


def test_each_model_is_fed_the_shape_and_pixel_range_it_declares(user_run: Path) -> None:
    scoring = {name: v["scoring"] for name, v in metrics_of(user_run)["models"].items()}
    assert scoring["flat_784"]["input_shape"] == [784] and scoring["flat_784"]["output_shape"] == [784]
    assert scoring["dense_28x28"]["input_shape"] == [28, 28] and scoring["dense_28x28"]["output_shape"] == [28, 28]
    assert scoring["denoise_conv"]["input_shape"] == [28, 28, 1]
    assert scoring["tanh_pm1"]["pixel_range"] == [-1.0, 1.0]
    assert all(s["pixel_range"] == [0.0, 1.0] for n, s in scoring.items() if n != "tanh_pm1")


def test_a_model_on_minus_one_to_one_gets_scaled_images_and_is_scored_on_its_outputs_brought_back(
        user_run: Path, user_folder: Path, real_data_dir: Path) -> None:
    import keras

    from genreport.pipeline.data.fashion_mnist import load_split, to_unit_float
    from genreport.pipeline.scoring.metrics import ssim_per_image

    rows = np.loadtxt(user_run / "results" / "per_image.csv", delimiter=",", skiprows=1, usecols=(1,), dtype=int)
    images = to_unit_float(load_split(real_data_dir, "test")[0][rows])
    model = keras.saving.load_model(user_folder / "tanh_pm1.keras", compile=False)
    raw = model.predict(images * 2.0 - 1.0, verbose=0)
    expected = ssim_per_image(images, np.clip((np.clip(raw, -1.0, 1.0) + 1.0) / 2.0, 0.0, 1.0))
    recorded = np.loadtxt(user_run / "results" / "per_image.csv", delimiter=",", skiprows=1, dtype=str)
    header = (user_run / "results" / "per_image.csv").read_text().splitlines()[0].split(",")
    assert np.allclose(recorded[:, header.index("ssim_tanh_pm1")].astype(float), expected, atol=2e-6)
    clipped = metrics_of(user_run)["models"]["tanh_pm1"]["scoring"]["clipped_share"]
    assert clipped == pytest.approx(float(np.mean((raw < -1.0) | (raw > 1.0))))


def test_outputs_outside_the_pixel_range_are_counted_as_clipped(user_folder: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(user_folder / "tanh_pm1.keras"), "--preset", "smoke",
                                       "--test-limit", "60", "--output", str(tmp_path / "o"), "--format", "html"])
    assert result.exit_code == 0, result.output
    scoring = metrics_of(tmp_path / "o")["models"]["tanh_pm1"]["scoring"]
    assert scoring["pixel_range"] == [0.0, 1.0] and scoring["clipped_share"] > 0.05  # tanh's background below 0
    assert f"{100 * scoring['clipped_share']:.2f}%" in (tmp_path / "o" / "report.html").read_text()


def test_a_users_file_called_base_keras_is_a_model_called_base_without_the_published_figure(user_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "base.keras").write_bytes((user_folder / "denoise_conv.keras").read_bytes())
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(folder), "--preset", "smoke", "--test-limit", "20",
                                       "--output", str(tmp_path / "o"), "--format", "html"])
    assert result.exit_code == 0, result.output
    metrics = metrics_of(tmp_path / "o")
    assert list(metrics["models"]) == ["base"] and metrics["published"] == [] and metrics["models"]["base"]["reference_ssim"] is None
    html = (tmp_path / "o" / "report.html").read_text()
    assert "0.9250" not in html and "<h3>base — " in html and "Models scored as given" in html


def test_every_model_is_compared_with_the_first_under_one_holm_family(user_run: Path) -> None:
    comparisons = metrics_of(user_run)["comparisons"]
    assert [(c["first"], c["second"]) for c in comparisons] == [("denoise_conv", other) for other in USER_MODELS[1:]]
    assert all(c["family_size"] == 4 for c in comparisons)
    raw = sorted(c["wilcoxon_p"] for c in comparisons)
    assert min(c["wilcoxon_p_holm"] for c in comparisons) == pytest.approx(min(1.0, 4 * raw[0]))  # Holm over all four


def test_the_report_holds_every_section_for_every_model(user_run: Path) -> None:
    html = (user_run / "report.html").read_text()
    for name in USER_MODELS:
        assert html.count(f"<h3>{name} — ") == 1  # its architecture
        assert html.count(f"<h3>{name}</h3>") == 1  # its best and worst
        assert f'alt="{name} reconstruction"' in html  # its grid column
        assert f'<th scope="row">{name}</th>' in html  # summary, feeding and quality-cost rows
    assert "Models scored as given" in html and "Quality against cost" in html


def test_quality_against_cost_has_a_point_per_model_and_baseline_and_a_front(user_run: Path) -> None:
    block = metrics_of(user_run)["quality_cost"]
    names = [p["name"] for p in block["points"]]
    assert names[:5] == list(USER_MODELS) and "mean image" in names
    for cost in ("params", "flops"):
        by_name = {p["name"]: p for p in block["points"]}
        front = [by_name[name] for name in block["front"][cost]]
        assert front and all(p[cost] for p in front)
        assert [p[cost] for p in front] == sorted(p[cost] for p in front)
        assert [p["mean"] for p in front] == sorted(p["mean"] for p in front)  # cheapest first, each better than the last
    dense = next(p for p in block["points"] if p["name"] == "dense_28x28")
    assert dense["flops"] == 2 * 784 * 32 + 2 * 32 * 784 and dense["params"] == 784 * 32 + 32 + 32 * 784 + 784


def test_reference_and_names_can_be_chosen(user_folder: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(user_folder / "flat_784.keras"),
                                       "--name", f"mine={user_folder / 'dense_28x28.keras'}", "--reference", "mine",
                                       "--preset", "smoke", "--test-limit", "20", "--output", str(tmp_path / "o"), "--format", "html"])
    assert result.exit_code == 0, result.output
    metrics = metrics_of(tmp_path / "o")
    assert list(metrics["models"]) == ["flat_784", "mine"]
    assert [(c["first"], c["second"]) for c in metrics["comparisons"]] == [("mine", "flat_784")]


def test_two_models_of_one_name_are_refused_in_one_line(user_folder: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "flat_784.keras").write_bytes((user_folder / "flat_784.keras").read_bytes())
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(user_folder), "--checkpoints", str(other), "--preset", "smoke",
                                       "--output", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert "two models are called 'flat_784'" in result.output and "--name" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def refusal_of(model_or_path: object, tmp_path: Path, *extra: str) -> str:
    """eval-only's output on one model (saved here if it is a model); the call must fail in one line with nothing written."""
    path = model_or_path if isinstance(model_or_path, Path) else tmp_path / "m.keras"
    if not isinstance(model_or_path, Path):
        model_or_path.save(path)
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(path), "--preset", "smoke", "--test-limit", "20",
                                       "--output", str(tmp_path / "o"), "--format", "html", *extra])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "o" / "results").exists()
    return errors[0]


def test_a_custom_registered_layer_is_refused(tmp_path: Path) -> None:
    import keras

    @keras.saving.register_keras_serializable(package="mine")
    class Doubling(keras.layers.Layer):
        def call(self, x):
            return 2.0 * x

    inputs = keras.Input((28, 28, 1))
    error = refusal_of(keras.Model(inputs, Doubling()(inputs)), tmp_path)
    assert "m.keras could not be loaded safely: layer class 'Doubling' is not a built-in Keras layer" in error


def test_a_classifier_is_refused_naming_its_shapes(tmp_path: Path) -> None:
    import keras
    from keras import layers

    classifier = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(10, activation="softmax")])
    error = refusal_of(classifier, tmp_path)
    assert "output shape (10,) is not an image of the input's size: the model maps (28, 28, 1) to (10,)" in error


def test_a_model_over_the_size_bound_is_refused_with_its_estimate(user_folder: Path, tmp_path: Path) -> None:
    error = refusal_of(user_folder / "dense_28x28.keras", tmp_path, "--max-model-gib", "0.0001")
    assert "dense_28x28.keras would take about" in error and "more than the 0.0001 GiB allowed" in error


def test_render_merges_eval_only_results_of_the_same_models_trained_with_two_seeds(real_data_dir: Path, tmp_path: Path) -> None:
    import keras
    from keras import layers

    images = training_images(real_data_dir)[:512]
    outs = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        folder = tmp_path / f"machine-{seed}"
        folder.mkdir()
        for name, width in (("narrow", 16), ("wide", 64)):
            model = keras.Sequential([keras.Input((784,)), layers.Dense(width, activation="relu"), layers.Dense(784, activation="sigmoid")])
            model.compile(optimizer="adam", loss="mse")
            model.fit(images.reshape(-1, 784), images.reshape(-1, 784), batch_size=32, epochs=1, verbose=0)
            model.save(folder / f"{name}.keras")
        outs.append(tmp_path / f"out-{seed}")
        result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(folder), "--training-seed", str(seed), "--preset", "smoke",
                                           "--test-limit", "40", "--output", str(outs[-1]), "--format", "html"])
        assert result.exit_code == 0, result.output
    merged = tmp_path / "merged"
    result = CliRunner().invoke(main, ["render", "--results", str(outs[0] / "results"), "--results", str(outs[1] / "results"),
                                       "--output", str(merged), "--format", "html"])
    assert result.exit_code == 0, result.output
    block = metrics_of(merged)["replicates"]
    assert block["seeds"] == [1, 2] and list(block["models"]) == ["narrow", "wide"]
    assert [(c["first"], c["second"]) for c in block["comparisons"]] == [("narrow", "wide")]
    first_seed = metrics_of(outs[0])["models"]["wide"]["ssim"]["mean"]
    assert block["models"]["wide"]["ssim"]["per_seed"]["1"] == pytest.approx(first_seed)
