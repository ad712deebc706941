"""A checkpoint's memory, estimated from its config.json before Keras builds anything, and bounded."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import keras
import pytest

from conftest import error_lines
from genreport.pipeline.core.errors import CheckpointError
from genreport.pipeline.models.model_size import GIB, SCORING_BATCH, check_model_memory, model_size
from genreport.pipeline.models.builders import build_base, build_modified


def description(model: keras.Model) -> dict:
    """The model's entry as a .keras archive's config.json holds it (saved, then read back)."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "m.keras")
        with zipfile.ZipFile(Path(folder) / "m.keras") as archive:
            return json.loads(archive.read("config.json"))


@pytest.mark.parametrize("build", [build_base, lambda: build_modified(32), lambda: build_modified(64, activation="leakyrelu")],
                         ids=["base", "modified-32", "modified-64-leakyrelu"])
def test_the_weight_count_read_from_the_description_is_the_built_models(build) -> None:
    model = build()
    assert model_size(description(model), "m.keras").weights == model.count_params()


def test_the_activation_estimate_is_the_widest_layers_input_and_output() -> None:
    size = model_size(description(build_base()), "base.keras")
    assert size.activation_bytes == 4 * (14 * 14 * 32 + 28 * 28 * 32)  # dec_up2: 14x14x32 in, 28x28x32 out (a chain: one call at a time)
    assert size.bytes == size.weight_bytes + size.activation_bytes * SCORING_BATCH and size.weight_bytes == 4 * size.weights


def conv_stack(layers: int, filters: int = 1024, kernel: int = 7) -> dict:
    """A functional description of ``layers`` Conv2D(filters, kernel x kernel) after the input: small text, huge model."""
    template = description(build_base())
    entries = template["config"]["layers"]
    conv = next(e for e in entries if e["class_name"] == "Conv2D")
    stack, previous, shape = [copy.deepcopy(entries[0])], entries[0]["name"], [None, 28, 28, 1]
    for i in range(layers):
        entry = copy.deepcopy(conv)
        entry["name"] = entry["config"]["name"] = f"conv{i}"
        entry["config"].update(filters=filters, kernel_size=[kernel, kernel], activation="relu")
        entry["build_config"] = {"input_shape": shape}
        entry["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": "float32",
                                                                                       "keras_history": [previous, 0, 0]}}], "kwargs": {}}]
        stack.append(entry)
        previous, shape = entry["name"], [None, 28, 28, filters]
    template["config"]["layers"] = stack
    template["config"]["output_layers"] = [previous, 0, 0]
    return template


def test_a_stack_of_large_convolutions_is_refused_with_its_estimate() -> None:
    with pytest.raises(CheckpointError, match=r"would take about 51\.5 GiB .* more than the 2 GiB allowed"):
        check_model_memory(conv_stack(254), "huge.keras")


def test_a_model_inside_the_bound_passes_and_a_lower_bound_refuses_it() -> None:
    config = description(build_modified(32))
    size = check_model_memory(config, "modified.keras")
    assert size.bytes < 2 * GIB
    with pytest.raises(CheckpointError, match="more than the 0.01 GiB allowed"):
        check_model_memory(config, "modified.keras", max_gib=0.01)


def test_a_build_config_asking_for_more_than_the_graph_gives_is_counted_or_refused_never_allocated() -> None:
    config = conv_stack(2, filters=8, kernel=3)
    config["config"]["layers"][2]["build_config"] = {"input_shape": [None, 28, 28, 100_000]}
    with pytest.raises(CheckpointError, match="cannot be built from config.json: .*incompatible"):
        model_size(config, "m.keras")


def test_float64_variables_count_eight_bytes_each() -> None:
    config = conv_stack(2, filters=8, kernel=3)
    plain = model_size(config, "m.keras")
    for entry in config["config"]["layers"][1:]:
        entry["config"]["dtype"] = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}}
    wide = model_size(config, "m.keras")
    assert wide.weights == plain.weights and wide.weight_bytes == 2 * plain.weight_bytes == 8 * plain.weights


def test_a_sequential_model_is_sized_like_the_built_one() -> None:
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(64), keras.layers.Dense(784),
                              keras.layers.Reshape((28, 28))])
    size = model_size(description(model), "s.keras")
    assert size.weights == model.count_params() and (size.input_shape, size.output_shape) == ((28, 28), (28, 28))


def test_a_broken_graph_is_refused_in_one_line() -> None:
    config = conv_stack(2, filters=8, kernel=3)
    config["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["nowhere", 0, 0]
    with pytest.raises(CheckpointError, match="m.keras: its model cannot be built from config.json"):
        check_model_memory(config, "m.keras")


def test_no_variable_is_left_for_keras_to_initialise_later() -> None:
    from keras.src.backend.common import global_state

    model_size(conv_stack(254), "huge.keras")  # 52 GB of variables, declared only
    assert not global_state.get_global_attribute("uninitialized_variables", [])


def write_archive(path: Path, config: dict) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        archive.writestr("model.weights.h5", b"")
    return path


def peak_memory_of(command: list[str], stderr_path: Path) -> tuple[int, int]:
    """Run ``command``; its exit code and the highest VmHWM (bytes) read from /proc while it ran.

    Read from /proc, not wait4's ru_maxrss: a child forked from this large test process starts
    with the parent's pages counted, and that count survives its exec.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    peak = 0
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        status = Path(f"/proc/{child.pid}/status")
        while child.poll() is None:
            try:
                line = next(l for l in status.read_text().splitlines() if l.startswith("VmHWM:"))
                peak = max(peak, int(line.split()[1]) * 1024)
            except (OSError, StopIteration):
                pass
            time.sleep(0.02)
    return child.returncode, peak


def test_eval_only_refuses_the_254_layer_archive_before_allocating_it(tmp_path: Path) -> None:
    """Its own process, so its memory is its own (about 5 s: TensorFlow's start-up)."""
    folder = tmp_path / "ck"
    folder.mkdir()
    write_archive(folder / "base.keras", conv_stack(254))  # 52 GB of weights if Keras built it
    code, peak = peak_memory_of([sys.executable, "-m", "genreport.report.cli", "eval-only", "--checkpoints", str(folder), "--preset", "smoke",
                                 "--test-limit", "20", "--output", str(tmp_path / "o")], tmp_path / "stderr")
    lines = error_lines((tmp_path / "stderr").read_text())
    assert code == 1, lines
    assert len(lines) == 1 and "base.keras would take about" in lines[0] and "GiB" in lines[0]
    assert 0 < peak < 1.5 * GIB  # an ordinary eval-only start: TensorFlow and the test images (about 0.75 GB)
