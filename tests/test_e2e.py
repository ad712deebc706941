"""End to end at smoke scale on the real data: train, tune, score, report, and eval-only."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pypdf
import pytest
from click.testing import CliRunner

from genreport.pipeline.core.config import resolve_config
from genreport.pipeline.data.fashion_mnist import CLASS_NAMES, load_dataset
from genreport.pipeline.scoring.metrics import ssim_per_image
from genreport.report.cli import main

SMOKE = resolve_config("smoke")  # the settings the shared smoke run used

pytestmark = pytest.mark.e2e
VARIANTS = ("base", "modified", "tuned")


def smoke_test_set(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    config = resolve_config("smoke")
    data = load_dataset(data_dir, train_limit=config.train_limit, test_limit=config.test_limit, seed=config.data_seed)
    return data.x_test, data.test_index


def test_full_writes_checkpoints_results_and_both_reports(smoke_run: tuple[Path, str]) -> None:
    out, _ = smoke_run
    for name in ("base.keras", "modified.keras", "tuned.keras", "manifest.json"):
        assert (out / "checkpoints" / name).is_file(), name
    for name in ("metrics.json", "per_image.csv", "trials.csv", "run.json", "samples.npz"):
        assert (out / "results" / name).is_file(), name
    assert (out / "report.html").stat().st_size > 10_000
    assert (out / "report.pdf").stat().st_size > 10_000


def test_a_run_s_garbage_collections_walk_only_what_it_made_after_the_first(smoke_run: tuple[Path, str]) -> None:
    # Reseeds before each variant, the search's builds and each scored model's sizing collect
    # garbage; TensorFlow's objects, alive before the training began, are walked by the first only
    # (the block's own; a collection added outside the block, in the report say, would be a second).
    from conftest import SMOKE_RUN_COLLECTIONS

    assert len(SMOKE_RUN_COLLECTIONS) >= 10 and SMOKE_RUN_COLLECTIONS.count(False) == 1


def test_the_run_record_and_report_say_whether_onednn_kernels_ran(smoke_run: tuple[Path, str]) -> None:
    out, _ = smoke_run
    from genreport.pipeline.core.environment import onednn_enabled

    expected = onednn_enabled()  # the smoke run ran in this process
    assert expected in (True, False)
    assert json.loads((out / "results" / "run.json").read_text())["machine"]["onednn"] is expected
    row = f"<th>oneDNN CPU kernels (scoring process)</th><td>{'on' if expected else 'off'}</td>"
    assert row in (out / "report.html").read_text(encoding="utf-8")


def test_progress_names_stages_trials_and_report_paths(smoke_run: tuple[Path, str]) -> None:
    out, stdout = smoke_run
    for line in ("▶ train base", "✓ train base", "✓ tune", "trial 1/36", "trial 36/36", "val_loss", f"report (pdf): {out / 'report.pdf'}"):
        assert line in stdout, line


def test_progress_estimates_the_finish_and_counts_scoring_in_tenths(smoke_run: tuple[Path, str]) -> None:
    stdout = smoke_run[1]
    assert "base: " in stdout and "the run should end near" in stdout
    scored = [line.strip() for line in stdout.splitlines() if "test images scored" in line]
    assert scored[:2] == ["base: 50 of 50 test images scored (100%)", "modified: 50 of 50 test images scored (100%)"]


def test_html_names_the_three_variants_and_ten_classes(smoke_run: tuple[Path, str]) -> None:
    html = (smoke_run[0] / "report.html").read_text(encoding="utf-8")
    for text in ("Base", "Modified", "Tuned modified", *CLASS_NAMES):
        assert text in html, text


def test_pdf_opens_with_several_pages_and_embedded_images(smoke_run: tuple[Path, str]) -> None:
    reader = pypdf.PdfReader(smoke_run[0] / "report.pdf")
    assert len(reader.pages) >= 2
    assert sum(len(page.images) for page in reader.pages) >= 3 * len(CLASS_NAMES) * 2


def test_metrics_agree_with_ssim_recomputed_from_the_checkpoints(smoke_run: tuple[Path, str], real_data_dir: Path) -> None:
    import keras

    out = smoke_run[0]
    x_test, test_index = smoke_test_set(real_data_dir)
    metrics = json.loads((out / "results" / "metrics.json").read_text())
    with open(out / "results" / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["test_index"]) for r in rows] == test_index.tolist()
    for variant in VARIANTS:
        model = keras.saving.load_model(out / "checkpoints" / f"{variant}.keras", compile=False, safe_mode=True)
        recon = np.clip(model.predict(x_test, batch_size=512, verbose=0), 0, 1)
        ssim = ssim_per_image(x_test, recon)
        assert metrics["models"][variant]["ssim"]["mean"] == pytest.approx(ssim.mean(), abs=1e-6)
        saved = np.array([float(r[f"ssim_{variant}"]) for r in rows])
        assert np.allclose(saved, ssim, atol=1e-5)


def test_eval_only_reproduces_the_full_figures(smoke_run: tuple[Path, str], tmp_path: Path) -> None:
    out = smoke_run[0]
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(out / "checkpoints"), "--preset", "smoke", "--output", str(tmp_path / "eval"), "--format", "html"])
    assert result.exit_code == 0, result.output
    full = json.loads((out / "results" / "metrics.json").read_text())
    again = json.loads((tmp_path / "eval" / "results" / "metrics.json").read_text())
    for variant in VARIANTS:
        assert again["models"][variant]["ssim"]["mean"] == full["models"][variant]["ssim"]["mean"]
        assert again["models"][variant]["per_class"] == full["models"][variant]["per_class"]
    assert (tmp_path / "eval" / "results" / "per_image.csv").read_text() == (out / "results" / "per_image.csv").read_text()


def test_manifest_records_how_each_model_was_made(smoke_run: tuple[Path, str]) -> None:
    manifest = json.loads((smoke_run[0] / "checkpoints" / "manifest.json").read_text())
    assert manifest["config"]["preset"] == "smoke"
    assert len(manifest["fingerprint"]["data_digests"]) == 4
    assert "keras" in manifest["versions"]
    for variant in VARIANTS:
        entry = manifest["variants"][variant]
        assert entry["file"] == f"{variant}.keras" and len(entry["sha256"]) == 64
        assert entry["training"]["history"]["val_loss"]
        assert entry["hyperparameters"]
    assert set(manifest["variants"]["tuned"]["hyperparameters"]) == {"activation", "units", "optimizer"}
    assert {entry["policy"] for entry in manifest["variants"].values()} == {manifest["policy"]}


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_smoke_search_visits_all_36_combinations(smoke_run: tuple[Path, str]) -> None:
    trials = read_rows(smoke_run[0] / "results" / "trials.csv")
    assert len({(t["activation"], t["units"], t["optimizer"]) for t in trials}) == 36
    assert all(t["status"] == "COMPLETED" and int(t["steps"]) >= 1 for t in trials)


def test_every_smoke_trial_counts_its_validation_work_and_says_why_it_stopped(smoke_run: tuple[Path, str]) -> None:
    from genreport.pipeline.training.budget import forward_flops
    from genreport.pipeline.models.builders import build_modified

    forward = {units: forward_flops(build_modified(units)) for units in (32, 64, 128, 256)}
    for trial in read_rows(smoke_run[0] / "results" / "trials.csv"):
        assert float(trial["val_flops"]) == SMOKE.tune_val_limit * forward[int(trial["units"])]  # validated once
        assert trial["stopped_by"] in ("compute budget", "early stopping")


def test_every_variant_got_the_same_compute_budget(smoke_run: tuple[Path, str]) -> None:
    manifest = json.loads((smoke_run[0] / "checkpoints" / "manifest.json").read_text())
    budgets = {v: e["training"]["budget"] for v, e in manifest["variants"].items()}
    assert {b["budget_flops"] for b in budgets.values()} == {SMOKE.train_flops}
    for variant, entry in manifest["variants"].items():
        training = entry["training"]
        step = budgets[variant]["step_flops"]
        assert training["steps_run"] == max(1, int(SMOKE.train_flops // step)), variant
        assert training["flops"] == training["steps_run"] * step


def test_eval_only_ignores_a_manifest_entry_whose_file_was_swapped(smoke_run: tuple[Path, str], tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "checkpoints"
    shutil.copytree(smoke_run[0] / "checkpoints", folder)
    shutil.copyfile(folder / "modified.keras", folder / "base.keras")  # the manifest still describes the old base
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(folder), "--preset", "smoke", "--test-limit", "10", "--output", str(tmp_path / "e"), "--format", "html"])
    assert result.exit_code == 0, result.output
    assert "base.keras is not the file its manifest entry describes" in result.stdout
    run = json.loads((tmp_path / "e" / "results" / "run.json").read_text())
    assert "training" not in run["models"]["base"] and run["models"]["modified"]["training"]
    assert run["models"]["base"]["params"] == run["models"]["modified"]["params"]
    metrics = json.loads((tmp_path / "e" / "results" / "metrics.json").read_text())
    assert [row["model"] for row in metrics["published"]] == ["modified", "tuned"]  # the swapped file is nobody's base any more
    assert [(c["first"], c["second"]) for c in metrics["comparisons"]] == [("base", "modified"), ("base", "tuned")]
    html = (tmp_path / "e" / "report.html").read_text()
    assert "Scored as given: base:" in html and "<h3>base — " in html and "<h3>Modified — " in html


def test_each_variant_writes_tensorboard_curves(smoke_run: tuple[Path, str]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for variant in VARIANTS:
        folder = smoke_run[0] / "logs" / variant
        assert folder.is_dir(), variant
        events = EventAccumulator(str(folder / "validation"))
        events.Reload()
        tags = events.Tags()
        assert "epoch_loss" in tags.get("tensors", []) + tags.get("scalars", []), (variant, tags)


def test_eval_only_refuses_a_checkpoint_above_the_memory_bound_it_is_given(smoke_run: tuple[Path, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["eval-only", "--checkpoints", str(smoke_run[0] / "checkpoints"), "--preset", "smoke", "--test-limit", "20",
                                       "--max-model-gib", "0.001", "--output", str(tmp_path / "e"), "--format", "html"])
    assert result.exit_code == 1
    assert "base.keras would take about" in result.stderr and "more than the 0.001 GiB allowed (--max-model-gib)" in result.stderr
    assert not (tmp_path / "e" / "results").exists()
