"""What eval-only finds out about a model before it loads it: its size, shapes and cost, which file it is, and what vouches for it.

Each test builds the smallest model or archive that shows one behaviour; none scores anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import keras
import pytest
from keras import layers

from genreport.pipeline.core.errors import CheckpointError, ConfigError
from genreport.pipeline.models.checkpoints import check_checkpoint
from genreport.pipeline.models.model_size import GIB, SCORING_BATCH, check_model_memory, model_size
from genreport.pipeline.models.model_sources import find_models, pixel_ranges


def saved(model: keras.Model, path: Path) -> Path:
    model.save(path)
    return path


def config_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def test_a_model_that_takes_images_of_any_size_is_sized_and_counted_at_28x28(tmp_path: Path) -> None:
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, layers.Conv2D(1, 3, padding="same")(layers.Conv2D(8, 3, padding="same")(inputs)))
    size = model_size(config_of(saved(model, tmp_path / "m.keras")), "m.keras")
    assert size.input_shape == (28, 28, 1) and size.output_shape == (28, 28, 1)
    assert size.forward_flops == 2 * 784 * 9 * 1 * 8 + 2 * 784 * 9 * 8 * 1
    assert size.activation_bytes == 4 * 784 * (8 + 1)  # the second convolution's input and output


def test_upsampling_an_input_of_any_size_is_counted_at_its_true_size(tmp_path: Path) -> None:
    inputs = keras.Input((None, None, 1))
    model = keras.Model(inputs, layers.AveragePooling2D(100)(layers.UpSampling2D(100)(inputs)))
    with pytest.raises(CheckpointError, match=r"would take about 15\.\d GiB"):  # 2800x2800 pixels of a 512-image batch
        check_model_memory(config_of(saved(model, tmp_path / "m.keras")), "m.keras")


def test_a_nested_model_built_for_inputs_of_any_size_is_refused(tmp_path: Path) -> None:
    inner_in = keras.Input((None, None, 1))
    inner = keras.Model(inner_in, layers.UpSampling2D(4)(inner_in), name="inner")
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, layers.AveragePooling2D(4)(inner(inputs)))
    with pytest.raises(CheckpointError, match="unknown size"):
        model_size(config_of(saved(model, tmp_path / "m.keras")), "m.keras")


def test_tensors_alive_at_the_same_time_are_counted_together(tmp_path: Path) -> None:
    inputs = keras.Input((28, 28, 1))
    trunk = layers.Conv2D(4, 3, padding="same")(inputs)
    branches = [layers.Conv2D(4, 3, padding="same")(trunk) for _ in range(10)]
    total = branches[0]
    for branch in branches[1:]:
        total = layers.Add()([total, branch])
    model = keras.Model(inputs, layers.Conv2D(1, 1)(total))
    size = model_size(config_of(saved(model, tmp_path / "m.keras")), "m.keras")
    assert size.activation_bytes == 4 * 784 * (4 + 10 * 4)  # the trunk and every branch's output wait for their Adds
    assert size.bytes == size.weight_bytes + size.activation_bytes * SCORING_BATCH


def test_a_chain_holds_one_call_and_a_skip_connection_holds_its_input_until_the_merge(tmp_path: Path) -> None:
    chain = keras.Sequential([keras.Input((784,)), layers.Dense(10), layers.Dense(784)])
    assert model_size(config_of(saved(chain, tmp_path / "c.keras")), "c.keras").activation_bytes == 4 * (784 + 10)
    inputs = keras.Input((784,))
    skip = keras.Model(inputs, layers.Add()([inputs, layers.Dense(784)(layers.Dense(784)(inputs))]))
    assert model_size(config_of(saved(skip, tmp_path / "s.keras")), "s.keras").activation_bytes == 4 * 3 * 784


def two_branches(nested: bool) -> keras.Model:
    """Two parallel up-and-down branches merged by Add, their bodies inline or as nested Sequentials."""
    inputs = keras.Input((28, 28, 1))
    outputs = []
    for i in range(2):
        body = [layers.UpSampling2D(8), layers.AveragePooling2D(8)]
        if nested:
            branch = keras.Sequential([keras.Input((28, 28, 1)), *body], name=f"branch{i}")
            outputs.append(branch(inputs))
        else:
            x = inputs
            for layer in body:
                x = layer(x)
            outputs.append(x)
    return keras.Model(inputs, layers.Add()(outputs))


def test_a_nested_model_is_sized_as_if_its_layers_stood_in_the_outer_graph(tmp_path: Path) -> None:
    flat = model_size(config_of(saved(two_branches(False), tmp_path / "f.keras")), "f.keras")
    nested = model_size(config_of(saved(two_branches(True), tmp_path / "n.keras")), "n.keras")
    assert nested.activation_bytes == flat.activation_bytes >= 2 * 4 * 224 * 224  # both up-sampled tensors at once


def test_a_separable_convolution_counts_its_depthwise_result(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.SeparableConv2D(1, 1, depth_multiplier=50)])
    size = model_size(config_of(saved(model, tmp_path / "m.keras")), "m.keras")
    assert size.activation_bytes == 4 * 784 * (1 + 50 + 1)  # input, 50 depthwise channels, output


def test_only_the_input_layer_the_model_reads_is_fed_the_image(tmp_path: Path) -> None:
    inputs = keras.Input((None, None, 1))
    config = config_of(saved(keras.Model(inputs, layers.Conv2D(1, 3, padding="same")(inputs)), tmp_path / "ok.keras"))
    unused = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "unused", "inbound_nodes": [],
              "config": {"batch_shape": [None, 28, 28, 1], "dtype": "float32", "sparse": False, "ragged": False, "name": "unused"}}
    config["config"]["layers"].insert(0, unused)
    assert model_size(config, "m.keras").input_shape == (28, 28, 1)


def test_an_activation_given_as_a_layer_is_accepted(tmp_path: Path) -> None:
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, layers.Conv2D(1, 3, padding="same", activation=layers.LeakyReLU(0.2))(inputs))
    assert check_checkpoint(saved(model, tmp_path / "m.keras")).output_shape == (28, 28, 1)


def write_archive(path: Path, config: dict, weights: bytes = b"", compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        archive.writestr("model.weights.h5", weights)
    return path


@pytest.mark.parametrize("change", [
    lambda c: c.update(module=["keras"]),
    lambda c: c["config"]["layers"][1]["config"]["kernel_initializer"].update(class_name=["GlorotUniform"]),
    lambda c: c["config"]["layers"][1]["config"].update(activation=["relu"]),
], ids=["module-list", "class-list", "activation-list"])
def test_values_of_the_wrong_type_in_config_json_are_refused_in_one_line(tmp_path: Path, change) -> None:
    inputs = keras.Input((28, 28, 1))
    config = config_of(saved(keras.Model(inputs, layers.Conv2D(1, 3, padding="same")(inputs)), tmp_path / "ok.keras"))
    change(config)
    with pytest.raises(CheckpointError, match="m.keras could not be loaded safely") as error:
        check_checkpoint(write_archive(tmp_path / "m.keras", config))
    assert "\n" not in str(error.value)


def test_models_nested_hundreds_deep_are_refused_in_one_line(tmp_path: Path) -> None:
    config = {"module": "keras.layers", "class_name": "Identity", "config": {"name": "id"}}
    for depth in range(250):
        config = {"module": "keras", "class_name": "Sequential", "config": {"name": f"s{depth}", "layers": [config]}}
    with pytest.raises(CheckpointError, match="m.keras: its model is nested too deeply to be built"):
        check_checkpoint(write_archive(tmp_path / "m.keras", config))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored-as-keras-saves", "deflated"])
def test_a_weights_file_declaring_arrays_over_the_bound_is_refused_before_keras_reads_them(tmp_path: Path, compression: int) -> None:
    """Keras stores its members uncompressed, and those are read in place; a compressed member through zipfile's reader."""
    import h5py

    inputs = keras.Input((28, 28, 1))
    good = saved(keras.Model(inputs, layers.Conv2D(1, 3, padding="same")(inputs)), tmp_path / "ok.keras")
    bomb = tmp_path / "bomb.h5"
    with h5py.File(bomb, "w") as handle:  # 2.3 GiB of float32 fill values in a few kilobytes
        handle.create_dataset("layers/conv2d/vars/0", shape=(25_000, 25_000), dtype="float32", chunks=(1000, 1000), compression="gzip")
    assert bomb.stat().st_size < 100_000
    path = write_archive(tmp_path / "m.keras", config_of(good), bomb.read_bytes(), compression)
    with pytest.raises(CheckpointError, match=r"m.keras: its model.weights.h5 declares 2\.3 GiB of arrays"):
        check_checkpoint(path)


def genreport_folder(tmp_path: Path, entry: dict, name: str = "base") -> Path:
    """A checkpoints folder whose manifest vouches for its one file."""
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / f"{name}.keras").write_bytes(b"archive bytes")
    digest = hashlib.sha256(b"archive bytes").hexdigest()
    (folder / "manifest.json").write_text(json.dumps({"variants": {name: {"file": f"{name}.keras", "sha256": digest, **entry}}}))
    return folder


def test_a_manifest_entry_of_the_wrong_types_is_refused_as_damaged(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="the entry of base has 'params' of type str.*damaged"):
        find_models([genreport_folder(tmp_path, {"params": "many"})])


def test_a_vouched_checkpoint_cannot_take_another_variants_name(tmp_path: Path) -> None:
    folder = genreport_folder(tmp_path, {"params": 10})
    assert [(m.name, m.variant) for m in find_models([folder])] == [("base", "base")]
    with pytest.raises(ConfigError, match="genreport's base checkpoint: it cannot be named 'tuned'"):
        find_models([folder], [f"tuned={folder / 'base.keras'}"])


def test_a_symlinked_manifest_vouches_for_nothing(tmp_path: Path) -> None:
    source = genreport_folder(tmp_path, {"params": 10})
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "base.keras").write_bytes(b"archive bytes")
    os.symlink(source / "manifest.json", folder / "manifest.json")
    warnings: list[str] = []
    assert [m.vouched for m in find_models([folder], warn=warnings.append)] == [False]
    assert "is a symlink" in warnings[0]


def test_a_link_in_the_folder_is_named_by_the_link_and_a_second_link_to_one_file_is_scored_once(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "deep.keras").write_bytes(b"x")
    os.symlink("sub/deep.keras", folder / "mine.keras")
    os.symlink("mine.keras", folder / "zalias.keras")
    warnings: list[str] = []
    assert [m.name for m in find_models([folder], warn=warnings.append)] == ["mine"]
    assert warnings == ["zalias.keras is the same file as mine.keras: scored once, as mine"]


def test_a_link_to_nothing_is_named_in_the_error(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    os.symlink("nowhere.keras", folder / "dangling.keras")
    with pytest.raises(CheckpointError, match="dangling.keras in .* is a symlink to nothing"):
        find_models([folder])


@pytest.mark.parametrize("name", [".", "..", "_", "--"])
def test_a_model_name_needs_a_letter_or_digit(tmp_path: Path, name: str) -> None:
    (tmp_path / "m.keras").write_bytes(b"x")
    with pytest.raises(ConfigError, match="not 1 to 64"):
        find_models([], [f"{name}={tmp_path / 'm.keras'}"])


def test_a_models_own_pixel_range_wins_whatever_the_order() -> None:
    assert pixel_ranges(["a=-1,1", "0,255"], ["a", "b"]) == {"a": (-1.0, 1.0), "b": (0.0, 255.0)}
    assert pixel_ranges([], ["a"]) == {"a": (0.0, 1.0)}


def test_the_pareto_front_keeps_ties_and_a_cost_of_zero() -> None:
    from genreport.pipeline.scoring.quality_cost import pareto_front

    points = [{"name": n, "mean": m, "flops": f} for n, m, f in (("a", 0.9, 10), ("b", 0.9, 10), ("c", 0.5, 0), ("d", 0.8, 20), ("e", 0.95, 30))]
    assert pareto_front(points, "flops") == ["c", "a", "b", "e"]


def test_sixteen_models_get_sixteen_different_colours() -> None:
    from genreport.report.figures import styles_for

    styles = styles_for([f"m{i:02d}" for i in range(16)])
    assert len({s["color"] for s in styles.values()}) == 16


def test_results_scored_at_different_pixel_ranges_or_with_other_comparisons_do_not_merge(results_dir: Path) -> None:
    from dataclasses import replace

    from genreport.pipeline.results.schema import ScoringFacts
    from genreport.pipeline.results.store import load_results
    from genreport.pipeline.scoring.replicates import first_difference, replicate_settings

    loaded = load_results(results_dir)

    def results(pixel_range: tuple[float, float], swapped: bool = False):
        facts = ScoringFacts(input_shape=(784,), output_shape=(784,), pixel_range=pixel_range, clipped_share=0.0)
        models = {name: replace(figures, scoring=facts) for name, figures in loaded.metrics.models.items()}
        comparisons = tuple(replace(c, first=c.second, second=c.first) if swapped else c for c in loaded.metrics.comparisons)
        return replace(loaded, metrics=replace(loaded.metrics, models=models, comparisons=comparisons))

    base = replicate_settings(results((0.0, 1.0)))
    assert first_difference(base, replicate_settings(results((0.0, 1.0)))) is None
    assert "how each model was fed" in first_difference(base, replicate_settings(results((-1.0, 1.0))))
    assert "comparisons" in first_difference(base, replicate_settings(results((0.0, 1.0), swapped=True)))


def test_the_bound_counts_every_variable_at_its_dtype(tmp_path: Path) -> None:
    inputs = keras.Input((784,))
    model = keras.Model(inputs, layers.Dense(784, dtype="float64")(inputs))
    size = model_size(config_of(saved(model, tmp_path / "m.keras")), "m.keras")
    assert size.weight_bytes == 8 * (784 * 784 + 784) and size.bytes < GIB


def test_a_stored_member_read_in_place_gives_the_bytes_zipfile_gives_and_a_compressed_one_is_left_to_zipfile(tmp_path: Path) -> None:
    import io

    from genreport.pipeline.models.model_size import stored_member

    payload = bytes(range(256)) * 40
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        path = tmp_path / f"{compression}.zip"
        with zipfile.ZipFile(path, "w", compression=compression) as archive:
            archive.writestr("first.txt", b"before")
            archive.writestr("model.weights.h5", payload)
        with open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            member = stored_member(handle, archive.getinfo("model.weights.h5"))
            if compression == zipfile.ZIP_DEFLATED:
                assert member is None
                continue
            assert member.read() == archive.read("model.weights.h5")
            assert member.seek(-16, io.SEEK_END) == len(payload) - 16 and member.read(100) == payload[-16:]
            assert member.seek(len(payload) + 5) == len(payload) + 5 and member.read(10) == b""
            member.seek(300)
            assert member.read(4) == payload[300:304]


def test_a_stored_weights_member_that_is_no_hdf5_file_is_refused_in_one_line(tmp_path: Path) -> None:
    inputs = keras.Input((28, 28, 1))
    good = saved(keras.Model(inputs, layers.Conv2D(1, 3, padding="same")(inputs)), tmp_path / "ok.keras")
    path = write_archive(tmp_path / "m.keras", config_of(good), b"not an HDF5 file at all" * 100)
    with pytest.raises(CheckpointError, match=r"^m.keras: its model.weights.h5 is unreadable \(\w+\)$"):
        check_checkpoint(path)
