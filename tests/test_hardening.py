"""Hostile files in the places genreport reads and writes (issue 12): each is refused in one line.

The lock file, checkpoints found by name or by manifest, the archive's model description,
a model that outputs NaN, worker ids and malformed results.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import error_lines
from genreport.pipeline.core.errors import CheckpointError, ConfigError, GenreportError, ResultsError
from genreport.pipeline.core.lock import LOCK_NAME, output_lock, reading_lock


def assert_one_line(error: BaseException, *expected: str) -> str:
    """The error's message, after checking it is one printable line holding each expected text."""
    message = str(error)
    assert "\n" not in message and "\r" not in message and "\x1b" not in message, repr(message)
    for text in expected:
        assert text in message, message
    return message


# --- the lock file -------------------------------------------------------------------------------


@pytest.mark.parametrize("lock", [output_lock, reading_lock], ids=["writing", "reading"])
def test_a_symlinked_lock_file_is_refused_and_its_target_left_alone(tmp_path: Path, lock) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(victim)
    with pytest.raises(GenreportError) as error:
        with lock(out):
            pass
    assert_one_line(error.value, LOCK_NAME, "cannot be opened safely")
    assert victim.read_text() == "keep me"


def test_a_lock_file_hard_linked_to_another_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    os.link(victim, out / LOCK_NAME)
    with pytest.raises(GenreportError) as error:
        with output_lock(out):
            pass
    assert_one_line(error.value, "not a plain regular file")
    assert victim.read_text() == "keep me"


def test_a_lock_file_that_is_a_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / LOCK_NAME).mkdir(parents=True)
    with pytest.raises(GenreportError) as error:
        with output_lock(out):
            pass
    assert_one_line(error.value, LOCK_NAME)


def test_the_lock_holds_our_pid_after_a_longer_stale_one(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text("41943041234")
    with output_lock(out) as path:
        assert path.read_text() == str(os.getpid())


def test_a_lock_file_that_is_a_fifo_is_refused_when_reading_a_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / LOCK_NAME)
    with pytest.raises(GenreportError) as error:
        with reading_lock(run):
            pass
    assert_one_line(error.value, LOCK_NAME, "not a plain regular file")


# --- checkpoints found by name and by manifest ---------------------------------------------------


def test_a_standard_name_symlinked_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    from genreport.pipeline.models.checkpoints import find_checkpoints

    outside = tmp_path / "elsewhere.keras"
    outside.write_bytes(b"not ours")
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "base.keras").symlink_to(outside)
    with pytest.raises(CheckpointError) as error:
        find_checkpoints(folder)
    assert_one_line(error.value, "'base.keras'", "outside")


def test_a_standard_name_symlinked_inside_the_folder_is_used(tmp_path: Path) -> None:
    from genreport.pipeline.models.checkpoints import find_checkpoints

    folder = tmp_path / "ck"
    (folder / "older").mkdir(parents=True)
    (folder / "older" / "base-v1.keras").write_bytes(b"zip")
    (folder / "base.keras").symlink_to(folder / "older" / "base-v1.keras")
    found = find_checkpoints(folder)
    assert list(found) == ["base"] and found["base"].resolve() == (folder / "older" / "base-v1.keras").resolve()


def test_a_manifest_whose_variants_are_not_a_mapping_is_refused(tmp_path: Path) -> None:
    from genreport.pipeline.models.checkpoints import find_checkpoints

    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"variants": ["base.keras"]}))
    with pytest.raises(CheckpointError) as error:
        find_checkpoints(folder)
    assert_one_line(error.value, "manifest.json does not describe variants")


@pytest.mark.parametrize("name", ["gone.keras\nError: all checks passed", "\x1b[2Jgone.keras", "gone.keras\r"])
def test_manifest_names_cannot_forge_lines_or_escape_codes(tmp_path: Path, name: str) -> None:
    from genreport.pipeline.models.checkpoints import find_checkpoints

    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"variants": {"tuned": {"file": name}}}))
    with pytest.raises(CheckpointError) as error:
        find_checkpoints(folder)
    assert_one_line(error.value, repr(name))


def test_a_manifest_name_with_control_characters_is_refused_even_when_that_file_exists(tmp_path: Path) -> None:
    from genreport.pipeline.models.checkpoints import find_checkpoints

    folder = tmp_path / "ck"
    folder.mkdir()
    name = "tuned.keras\nError: all checks passed"
    (folder / name).write_bytes(b"zip")
    (folder / "manifest.json").write_text(json.dumps({"variants": {"tuned": {"file": name}}}))
    with pytest.raises(CheckpointError) as error:
        find_checkpoints(folder)
    assert_one_line(error.value, repr(name), "not a plain file name")


def test_a_manifest_name_missing_from_the_folder_is_quoted(tmp_path: Path) -> None:
    from genreport.pipeline.models.checkpoints import find_checkpoints

    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"variants": {"tuned": {"file": "tuned-v2.keras"}}}))
    with pytest.raises(CheckpointError) as error:
        find_checkpoints(folder)
    assert_one_line(error.value, "'tuned-v2.keras', which is not in")


# --- worker ids ----------------------------------------------------------------------------------


@pytest.mark.parametrize("worker_id", ["w1\n", "w1\nError: forged", "w\x1b[2J1"])
def test_worker_ids_must_match_whole_and_are_quoted(worker_id: str) -> None:
    from genreport.pipeline.search.distributed import check_worker_id

    with pytest.raises(ConfigError) as error:
        check_worker_id(worker_id)
    assert_one_line(error.value, repr(worker_id))


# --- what an archive may ask Keras to build ------------------------------------------------------


def save_functional(folder: Path, name: str, body: Callable[[Any], Any], activation: str = "sigmoid") -> Path:
    """Save a functional model image -> body -> 1-channel conv (sigmoid unless told) as ``folder/name``."""
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="image")
    outputs = layers.Conv2D(1, 3, padding="same", activation=activation, name="reconstruction")(body(inputs))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    keras.Model(inputs, outputs, name="probe").save(path)
    return path


def test_genreport_own_models_pass_the_archive_check(tmp_path: Path) -> None:
    import keras

    from genreport.pipeline.models.archive import check_archive
    from genreport.pipeline.models.checkpoints import load_model_safely, save_model
    from genreport.pipeline.models.builders import build_base, build_modified

    save_model(build_base(filters=(4, 8)), tmp_path, "base")
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        save_model(build_modified(units=4, activation="leakyrelu", optimizer="rmsprop"), tmp_path, "modified")
        save_model(build_modified(units=4, activation="tanh", optimizer="sgd"), tmp_path, "tuned")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for variant in ("base", "modified", "tuned"):
        check_archive(tmp_path / f"{variant}.keras")
        assert load_model_safely(tmp_path / f"{variant}.keras").output_shape == (None, 28, 28, 1)


def dropout(x: Any) -> Any:
    from keras import layers

    return layers.Dropout(0.1)(x)


def gaussian_noise(x: Any) -> Any:
    from keras import layers

    return layers.GaussianNoise(0.1)(x)


def wide_kernel(x: Any) -> Any:
    from keras import layers

    return layers.Conv2D(2, 9, padding="same")(x)


def many_filters(x: Any) -> Any:
    from keras import layers

    return layers.Conv2D(1100, 1)(x)


@pytest.mark.parametrize("body", [dropout, gaussian_noise, wide_kernel, many_filters], ids=["dropout", "noise", "kernel-9", "1100-filters"])
def test_built_in_layers_of_any_size_inside_the_memory_bound_load(tmp_path: Path, body: Callable[[Any], Any]) -> None:
    from genreport.pipeline.models.checkpoints import load_model_safely

    path = save_functional(tmp_path, "tuned.keras", body)
    assert load_model_safely(path).output_shape == (None, 28, 28, 1)


def random_flip(x: Any) -> Any:
    from keras import layers

    return layers.RandomFlip()(x)


def masking(x: Any) -> Any:
    from keras import layers

    return layers.Masking()(x)


@pytest.mark.parametrize("body, expected", [(random_flip, "layer class 'RandomFlip'"), (masking, "layer class 'Masking'")],
                         ids=["augmentation", "masking"])
def test_a_layer_class_outside_the_accepted_built_ins_is_refused_naming_the_checkpoint(tmp_path: Path, body: Callable[[Any], Any],
                                                                                        expected: str) -> None:
    from genreport.pipeline.models.checkpoints import load_model_safely

    path = save_functional(tmp_path, "tuned.keras", body)
    with pytest.raises(CheckpointError) as error:
        load_model_safely(path)
    assert_one_line(error.value, "tuned.keras could not be loaded safely", expected, "is not a built-in Keras layer genreport accepts")


def test_a_model_that_does_not_give_back_a_28x28x1_image_is_refused(tmp_path: Path) -> None:
    from keras import layers

    from genreport.pipeline.models.checkpoints import load_model_safely

    path = save_functional(tmp_path, "base.keras", lambda x: layers.AveragePooling2D(2)(x))  # 28x28x1 -> 14x14x1
    with pytest.raises(CheckpointError) as error:
        load_model_safely(path)
    assert_one_line(error.value, "base.keras: output shape (14, 14, 1) is not an image of the input's size")


def rewrite_config(path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """Rewrite the archive's config.json through ``change``, keeping its other members."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def test_an_unknown_object_in_the_config_is_refused_before_keras_reads_it(tmp_path: Path) -> None:
    from genreport.pipeline.models.checkpoints import load_model_safely

    path = save_functional(tmp_path, "base.keras", lambda x: x)

    def plant(config: dict[str, Any]) -> None:
        conv = config["config"]["layers"][1]["config"]
        conv["kernel_initializer"] = {"module": "os", "class_name": "system", "config": {}, "registered_name": None}

    rewrite_config(path, plant)
    with pytest.raises(CheckpointError) as error:
        load_model_safely(path)
    assert_one_line(error.value, "base.keras", "could not be loaded safely", "object 'system' from 'os'")


def test_an_archive_over_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genreport.pipeline.models.checkpoints import load_model_safely

    path = save_functional(tmp_path, "base.keras", lambda x: x)
    monkeypatch.setattr("genreport.pipeline.models.archive.MAX_ARCHIVE_BYTES", path.stat().st_size - 1)
    with pytest.raises(CheckpointError) as error:
        load_model_safely(path)
    assert_one_line(error.value, "base.keras", "bytes, more than the")


def test_an_archive_that_expands_past_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genreport.pipeline.models.checkpoints import load_model_safely

    path = save_functional(tmp_path, "base.keras", lambda x: x)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("assets/padding.bin", bytes(4 << 20))
    assert path.stat().st_size < 1 << 20
    monkeypatch.setattr("genreport.pipeline.models.archive.MAX_ARCHIVE_BYTES", 1 << 20)
    with pytest.raises(CheckpointError) as error:
        load_model_safely(path)
    assert_one_line(error.value, "base.keras could not be loaded safely: it expands to")


# --- a model whose reconstructions are not finite ------------------------------------------------


@pytest.mark.parametrize("weight, kind", [(np.nan, "NaN"), (3e38, "infinity")])
def test_a_model_reconstructing_nan_or_infinity_is_refused_naming_the_checkpoint(tmp_path: Path, weight: float, kind: str) -> None:
    from genreport.pipeline.models.checkpoints import load_model_safely
    from genreport.pipeline.scoring.metrics import reconstruct_images

    path = save_functional(tmp_path, "modified.keras", lambda x: x, activation="linear")
    model = load_model_safely(path)
    conv = model.get_layer("reconstruction")
    kernel, bias = conv.get_weights()
    conv.set_weights([np.full_like(kernel, weight), bias])
    model.save(path)
    model = load_model_safely(path)
    images = np.ones((3, 28, 28, 1), np.float32)
    with pytest.raises(CheckpointError) as error:
        reconstruct_images(model, images)
    assert_one_line(error.value, "model 'probe'", kind, "of 3 images")
    with pytest.raises(CheckpointError) as error:
        reconstruct_images(model, images, source=path.name)
    assert_one_line(error.value, "modified.keras", kind)


def test_reconstructions_without_a_source_name_the_model() -> None:
    from genreport.pipeline.scoring.metrics import check_finite

    with pytest.raises(CheckpointError) as error:
        check_finite(np.array([[0.5, np.inf]], np.float32), "model 'base'")
    assert_one_line(error.value, "model 'base'", "infinity")
    finite = np.zeros((2, 28, 28, 1), np.float32)
    assert check_finite(finite, "x") is finite


# --- malformed results given to `genreport render` -----------------------------------------------


METRICS = {"test_images": 1, "models": {}, "comparisons": [], "ssim_method": {}, "gaussian_ssim_method": {}, "reference_ssim": {},
           "schema_version": 3}
RUN = {"mode": "full", "config": {}, "class_names": ["T-shirt/top"], "data": {"source_dir": None, "digests": {}, "sizes": {}}, "machine": {},
       "started": "t0", "finished": "t1", "stages": []}


def write_results(folder: Path, metrics: Any = None, run: Any = None) -> Path:
    """A results folder whose files are readable; metrics and run as given (else minimal valid)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(METRICS if metrics is None else metrics))
    (folder / "run.json").write_text(json.dumps(RUN if run is None else run))
    (folder / "per_image.csv").write_text("index,test_index,label,class_name\n0,0,0,T-shirt/top\n")
    np.savez(folder / "samples.npz", grid=np.zeros(1, np.int64), shown=np.zeros(1, np.int64), originals=np.zeros((1, 28, 28), np.float32))
    return folder


def without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


def test_minimal_well_typed_results_load(tmp_path: Path) -> None:
    from genreport.pipeline.results.store import load_results

    loaded = load_results(write_results(tmp_path / "results"))
    assert loaded.metrics.to_json() == METRICS and loaded.run.mode == "full" and loaded.run.class_names == ("T-shirt/top",)


@pytest.mark.parametrize("file, key", [("metrics.json", k) for k in METRICS if k != "schema_version"] + [("run.json", k) for k in RUN])
def test_a_missing_field_is_a_results_error_naming_file_and_field(tmp_path: Path, file: str, key: str) -> None:
    from genreport.pipeline.results.store import load_results

    folder = tmp_path / "results"
    if file == "metrics.json":
        write_results(folder, metrics=without(METRICS, key))
    else:
        write_results(folder, run=without(RUN, key))
    with pytest.raises(ResultsError) as error:
        load_results(folder)
    assert_one_line(error.value, file, repr(key))


@pytest.mark.parametrize("file, key, value", [
    ("metrics.json", "test_images", "120"), ("metrics.json", "test_images", True), ("metrics.json", "models", []),
    ("metrics.json", "comparisons", {}), ("metrics.json", "ssim_method", "uniform"), ("metrics.json", "reference_ssim", None),
    ("run.json", "mode", 3), ("run.json", "config", []), ("run.json", "class_names", "T-shirt"), ("run.json", "stages", {}),
    ("run.json", "started", None),
])
def test_a_field_of_the_wrong_type_is_a_results_error_naming_file_and_field(tmp_path: Path, file: str, key: str, value: Any) -> None:
    from genreport.pipeline.results.store import load_results

    folder = tmp_path / "results"
    if file == "metrics.json":
        write_results(folder, metrics={**METRICS, key: value})
    else:
        write_results(folder, run={**RUN, key: value})
    with pytest.raises(ResultsError) as error:
        load_results(folder)
    assert_one_line(error.value, file, repr(key), "not a")


def test_results_that_are_not_an_object_are_a_results_error(tmp_path: Path) -> None:
    from genreport.pipeline.results.store import load_results

    with pytest.raises(ResultsError) as error:
        load_results(write_results(tmp_path / "results", metrics=[1, 2]))
    assert_one_line(error.value, "metrics.json", "not an object")


def test_render_of_malformed_results_is_one_line(tmp_path: Path) -> None:
    from genreport.report.cli import main

    folder = write_results(tmp_path / "results", run=without(RUN, "class_names"))
    result = CliRunner().invoke(main, ["render", "--results", str(folder), "--output", str(tmp_path / "report"), "--format", "html"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "run.json" in lines[0] and "'class_names'" in lines[0], result.output


# --- dependency floors ---------------------------------------------------------------------------


def test_weasyprint_floor_is_68_1() -> None:
    import configparser

    from packaging.requirements import Requirement

    setup = configparser.ConfigParser()
    setup.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    requirements = [Requirement(line) for line in setup["options"]["install_requires"].split("\n") if line.strip()]
    weasyprint = next(r for r in requirements if r.name.lower() == "weasyprint")
    assert "68.1" in weasyprint.specifier and "68.0.9" not in weasyprint.specifier and "66.0" not in weasyprint.specifier


def test_an_archive_with_a_second_config_json_is_refused(tmp_path: Path) -> None:
    import warnings
    import zipfile

    from genreport.pipeline.models.archive import check_archive
    from genreport.pipeline.core.errors import CheckpointError
    from genreport.pipeline.models.builders import build_base

    good = tmp_path / "good.keras"
    build_base().save(good)
    crafted = tmp_path / "crafted.keras"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(crafted, "w") as target, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: that is the attack
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": []}}')  # Keras reads this one
    with pytest.raises(CheckpointError, match="two members of the same name"):
        check_archive(crafted)
