"""Bad input on the command line: one line on stderr, a non-zero exit, never a traceback."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import error_lines
from genreport.report.cli import main


def run_cli(*args: str) -> tuple[int, str]:
    """Exit code and what went to stderr."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stderr if result.exit_code else result.output


def assert_one_line_error(code: int, output: str, expected: str) -> None:
    assert code != 0
    assert "Traceback" not in output
    lines = error_lines(output)
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ") and expected in lines[0], output


def test_help_answers_and_documents_every_option() -> None:
    code, output = run_cli("full", "--help")
    assert code == 0
    for option in ("--output", "--data-dir", "--preset", "--budget", "--train-tflop", "--epochs", "--search", "--max-trials", "--max-minutes", "--train-limit",
                   "--test-limit", "--batch-size", "--seed", "--precision", "--format"):
        assert option in output
    code, output = run_cli("eval-only", "--help")
    assert code == 0 and "--checkpoints" in output


def test_missing_data_folder(tmp_path: Path) -> None:
    code, output = run_cli("full", "--preset", "smoke", "--data-dir", str(tmp_path / "nope"), "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "does not exist")


def test_data_folder_without_the_files(tmp_path: Path) -> None:
    code, output = run_cli("full", "--preset", "smoke", "--data-dir", str(tmp_path), "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "lacks")


def test_empty_checkpoints_folder(tmp_path: Path) -> None:
    (tmp_path / "ck").mkdir()
    code, output = run_cli("eval-only", "--checkpoints", str(tmp_path / "ck"), "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "no .keras file in")


def test_foreign_checkpoints_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "weights.h5").write_bytes(b"\x89HDF")
    (folder / "notes.txt").write_text("hello")
    code, output = run_cli("eval-only", "--checkpoints", str(folder), "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "no .keras file in")


def test_missing_checkpoints_folder(tmp_path: Path) -> None:
    code, output = run_cli("eval-only", "--checkpoints", str(tmp_path / "none"), "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "does not exist")


def test_text_file_named_keras(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "base.keras").write_text("not a model")
    code, output = run_cli("eval-only", "--checkpoints", str(folder), "--preset", "smoke", "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "base.keras is not a Keras archive")


def test_zip_that_is_not_a_keras_model(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    with zipfile.ZipFile(folder / "tuned.keras", "w") as archive:
        archive.writestr("readme.txt", "a zip, but no model")
    code, output = run_cli("eval-only", "--checkpoints", str(folder), "--preset", "smoke", "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "tuned.keras could not be loaded safely")


def test_manifest_that_is_not_json(tmp_path: Path) -> None:
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "manifest.json").write_text("{not json")
    (folder / "base.keras").write_bytes(b"PK\x05\x06" + bytes(18))
    code, output = run_cli("eval-only", "--checkpoints", str(folder), "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "not valid JSON")


def test_a_manifest_naming_a_path_outside_the_folder_vouches_for_nothing_and_is_never_followed(tmp_path: Path) -> None:
    from genreport.pipeline.models.model_sources import find_models

    folder = tmp_path / "ck"
    folder.mkdir()
    outside = tmp_path / "outside.keras"
    outside.write_bytes(b"elsewhere")
    (folder / "base.keras").write_bytes(b"elsewhere")  # the same digest as the file the manifest points at
    digest = hashlib.sha256(b"elsewhere").hexdigest()
    (folder / "manifest.json").write_text(json.dumps({"variants": {"base": {"file": "../outside.keras", "sha256": digest}}}))
    models = find_models([folder])
    assert [(m.name, m.path, m.vouched) for m in models] == [("base", (folder / "base.keras").resolve(), False)]


def test_unknown_preset() -> None:
    code, output = run_cli("full", "--preset", "huge")
    assert_one_line_error(code, output, "huge")


@pytest.mark.parametrize("option, value", [("--epochs", "-2"), ("--max-trials", "0"), ("--batch-size", "-1"), ("--test-limit", "0"),
                                           ("--train-tflop", "-1"), ("--max-minutes", "0")])
def test_out_of_range_numbers(tmp_path: Path, option: str, value: str) -> None:
    extra = ["--search", "random"] if option == "--max-trials" else []
    code, output = run_cli("full", "--preset", "smoke", *extra, option, value, "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, option)


def test_unknown_format(tmp_path: Path) -> None:
    code, output = run_cli("full", "--preset", "smoke", "--format", "docx", "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "docx")


def test_output_that_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    code, output = run_cli("full", "--preset", "smoke", "--output", str(target))
    assert_one_line_error(code, output, "is a file")
    assert target.read_text() == "keep me"


def test_a_manifest_entry_for_another_file_name_vouches_for_nothing(tmp_path: Path) -> None:
    from genreport.pipeline.models.model_sources import find_models

    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "tuned.keras").write_bytes(b"model")
    digest = hashlib.sha256(b"model").hexdigest()
    (folder / "manifest.json").write_text(json.dumps({"variants": {"tuned": {"file": "tuned-v2.keras", "sha256": digest}}}))
    assert [(m.name, m.vouched) for m in find_models([folder])] == [("tuned", False)]


def test_model_of_the_wrong_shape_is_refused(tmp_path: Path) -> None:
    import keras
    from keras import layers

    folder = tmp_path / "ck"
    folder.mkdir()
    inputs = keras.Input((32, 32, 1))
    keras.Model(inputs, layers.Conv2D(1, 3, padding="same")(inputs)).save(folder / "modified.keras")
    code, output = run_cli("eval-only", "--checkpoints", str(folder), "--preset", "smoke", "--output", str(tmp_path / "o"))
    assert_one_line_error(code, output, "modified.keras: input shape (32, 32, 1) is not a 28x28 image ((28, 28, 1) or (28, 28) or (784,))")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--debug", "eval-only", "--checkpoints", str(tmp_path / "none")])
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "CheckpointError"


def test_results_already_saved_survive_a_bad_eval_only(results_dir: Path, tmp_path: Path) -> None:
    out = results_dir.parent
    before = {p.name: p.read_bytes() for p in results_dir.iterdir()}
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "base.keras").write_text("junk")
    code, output = run_cli("eval-only", "--checkpoints", str(tmp_path / "ck"), "--preset", "smoke", "--output", str(out))
    assert_one_line_error(code, output, "not a Keras archive")
    assert {p.name: p.read_bytes() for p in results_dir.iterdir()} == before


@pytest.mark.parametrize("option, value", [("--epochs", "0"), ("--seed", "-1"), ("--train-limit", "5"), ("--max-minutes", "0")])
def test_every_out_of_range_number_is_a_usage_error_with_exit_code_2(tmp_path: Path, option: str, value: str) -> None:
    code, output = run_cli("full", "--preset", "smoke", option, value, "--output", str(tmp_path / "o"))
    assert code == 2
    assert_one_line_error(code, output, option)


def test_options_are_read_from_genreport_environment_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENREPORT_PRESET", "huge")
    code, output = run_cli("full", "--output", str(tmp_path / "o"))
    assert code == 2
    assert_one_line_error(code, output, "'huge' is not one of")


def test_version_lists_genreport_its_libraries_and_python() -> None:
    code, output = run_cli("--version")
    assert code == 0
    names = [line.split()[0] for line in output.splitlines()]
    assert names[0] == "genreport"
    for name in ("tensorflow", "keras", "keras-tuner", "scikit-image", "weasyprint", "python"):
        assert name in names, name


@pytest.mark.parametrize("args", [("full", "--train-tflop", "nan"), ("full", "--max-minutes", "inf"), ("full", "--format", "exe"),
                                  ("render", "--results", "r", "--format", "exe"), ("eval-only", "--checkpoints", "ck", "--max-model-gib", "nan")],
                         ids=["nan-tflop", "inf-minutes", "full-format", "render-format", "nan-gib"])
def test_not_a_finite_number_and_an_unknown_format_are_usage_errors_with_exit_code_2(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, output = run_cli(*args, *(["--output", str(tmp_path / "o")] if args[0] != "render" else []))
    assert code == 2
    assert_one_line_error(code, output, args[-2])


def test_a_checkpoint_that_cannot_be_read_says_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genreport.pipeline.models import checkpoints
    from genreport.pipeline.core.errors import CheckpointError

    path = tmp_path / "base.keras"
    path.write_bytes(b"PK")
    path.chmod(0)

    def refused(*args: object, **kwargs: object) -> None:  # what open() raises for a user without read permission (root reads anything)
        raise PermissionError(13, "Permission denied", str(path))

    if os.access(path, os.R_OK):
        monkeypatch.setattr(checkpoints, "open", refused, raising=False)
    with pytest.raises(CheckpointError, match="permission denied"):
        checkpoints.load_model_safely(path)


def test_results_folders_get_the_umask_s_mode_like_every_other_folder(results_dir: Path) -> None:
    from genreport.pipeline.core.fsutil import current_umask

    assert stat.S_IMODE(results_dir.stat().st_mode) == 0o777 & ~current_umask()


def test_an_output_path_that_is_not_utf_8_is_refused_before_any_work(tmp_path: Path, real_data_dir: Path) -> None:
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/out_\xff")
    code, output = run_cli("full", "--preset", "smoke", "--data-dir", str(real_data_dir), "--output", out)
    assert code == 1
    assert_one_line_error(code, output, "not valid UTF-8")
    assert list(tmp_path.iterdir()) == []
