"""A checkpoint that carries code: Keras runs it when safe mode is off; genreport never does.

The probe is a Lambda layer built from a Python ``lambda``, whose bytecode Keras serialises into
the archive, so (unlike a named or closure function) it does survive saving and reloading. The
probe is saved once for this module, after a separate process has shown that loading it with
``safe_mode=False`` runs its code; only then does each test's refusal mean something.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genreport.pipeline.core.errors import CheckpointError

UNSAFE_LOAD = textwrap.dedent("""
    import sys
    import keras
    keras.saving.load_model(sys.argv[1], compile=False, safe_mode=False)
""")


def save_probe(folder: Path, marker: Path) -> Path:
    """Save a 28x28x1 model whose Lambda writes ``marker`` whenever Keras traces or runs it."""
    import keras
    from keras import layers

    inputs = keras.Input((28, 28, 1), name="image")
    # A lambda (not a def) so Keras stores its bytecode. The marker path is a constant in that
    # bytecode: defaults come back from JSON as a list, which breaks even an unsafe load.
    code = eval(f"lambda x: (open({str(marker)!r}, 'w').write('code ran'), x)[1]")  # noqa: S307
    model = keras.Model(inputs, layers.Lambda(code, name="payload")(inputs), name="probe")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "base.keras"
    model.save(path)
    marker.unlink(missing_ok=True)  # building the model traced the lambda once
    return path


def load_unsafely_in_a_subprocess(path: Path) -> subprocess.CompletedProcess:
    """Keras' own load with safe mode off, in a fresh interpreter."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", UNSAFE_LOAD, str(path)], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def unsafe_probe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The probe archive and its marker, after proving that an unsafe load runs the code."""
    folder = tmp_path_factory.mktemp("probe")
    marker = folder / "code-ran"
    path = save_probe(folder / "ck", marker)
    assert not marker.exists()
    loaded = load_unsafely_in_a_subprocess(path)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert marker.read_text() == "code ran", "the probe must run its code when safe mode is off"
    marker.unlink()
    return path, marker


@pytest.fixture
def probe(unsafe_probe: tuple[Path, Path]) -> tuple[Path, Path]:
    """The module's probe, its marker absent as each test starts."""
    assert not unsafe_probe[1].exists(), "an earlier test let the probe's code run"
    return unsafe_probe


def test_genreport_refuses_a_checkpoint_that_carries_code_without_running_it(probe: tuple[Path, Path]) -> None:
    from genreport.pipeline.models.checkpoints import load_model_safely

    path, marker = probe
    with pytest.raises(CheckpointError, match="base.keras could not be loaded safely"):
        load_model_safely(path)
    assert not marker.exists()


def test_keras_safe_mode_alone_refuses_it(probe: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """With genreport's layer allowlist switched off, safe mode is the only guard left: it must hold."""
    from genreport.pipeline.models.checkpoints import load_model_safely

    path, marker = probe
    monkeypatch.setattr("genreport.pipeline.models.checkpoints.check_archive", lambda archive: None)
    monkeypatch.setattr("genreport.pipeline.models.checkpoints.check_model_memory", lambda config, name, max_gib: None)
    with pytest.raises(CheckpointError, match="base.keras could not be loaded safely.*lambda"):
        load_model_safely(path)
    assert not marker.exists()


def test_eval_only_refuses_it_in_one_line(probe: tuple[Path, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from conftest import error_lines
    from genreport.report.cli import main

    path, marker = probe
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(path.parent), "--preset", "smoke", "--output", str(tmp_path / "o")])
    assert result.exit_code != 0
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and "could not be loaded safely" in lines[0], result.output
    assert not marker.exists()
