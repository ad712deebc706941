"""genreport as a wheel: one `genreport` namespace, templates shipped as package data, render from it."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(folder), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=300)
    (built,) = folder.glob("genreport-*.whl")
    return built


@pytest.fixture(scope="session")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel; the test venv's packages serve as its dependencies.

    They are reached through a .pth line, which does not run the checkout's editable-install hook,
    so `genreport` can only come from the wheel.
    """
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (own,) = (venv / "lib").glob("python3*/site-packages")
    (own / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, text=True, timeout=300)
    return venv


def test_the_wheel_holds_one_genreport_namespace_with_its_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "genreport/templates/report.html.j2" in names and "genreport/templates/report.css" in names
    assert "genreport/pipeline/runs/full.py" in names and "genreport/report/cli.py" in names
    tops = {name.split("/")[0] for name in names}
    assert tops == {"genreport", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}


def test_render_works_from_the_installed_wheel_outside_the_checkout(wheel_venv: Path, results_dir: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GENREPORT_TEMPLATES")}
    where = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", "import genreport.report.jinja_env as j; print(j.templates_dir())"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(wheel_venv)
    done = subprocess.run([str(wheel_venv / "bin" / "genreport"), "render", "--results", str(results_dir), "--output", str(tmp_path / "r")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "report.html").stat().st_size > 10_000 and (tmp_path / "r" / "report.pdf").stat().st_size > 10_000
