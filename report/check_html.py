"""`make check-html`: open a rendered report in headless Chromium, screenshot it, and fail on errors.

A copy of the report gets a small probe (``templates/check_html_probe.js``) that counts the
images that did not load; Chromium's console (logged to stderr) must hold no error. The
full-page screenshot lands beside the report as ``report-screenshot.png``.

    python -m genreport.report.check_html [out/report.html]
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from genreport.report.jinja_env import templates_dir

PROBE = "check_html_probe.js"
MAX_SCREENSHOT_HEIGHT = 16_384  # Chromium's largest texture
# Chromium logs every console message as ":CONSOLE:<line>]" (at INFO, whatever its level): a
# report's page logs nothing, so any such line counts as an error.
CONSOLE_ERROR = re.compile(r":CONSOLE[:(]")


@dataclass
class BrowserCheck:
    """What the headless browser saw."""

    images: int = 0
    broken_images: int = 0
    page_height: int = 0
    console_errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    @property
    def passed(self) -> bool:
        return self.images > 0 and self.broken_images == 0 and not self.console_errors


def chromium() -> str:
    """The Chromium executable, or a one-line SystemExit."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("check-html: no chromium on PATH (make check-html installs Debian's package)")


def run_browser(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Chromium headless with the flags a root container needs."""
    import os

    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses to run as root
    command = [chromium(), "--headless", *sandbox, "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"check-html: chromium did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        raise SystemExit(f"check-html: chromium failed (exit {done.returncode}): {(done.stderr.strip().splitlines() or [''])[-1][:200]}")
    return done


def probed_copy(report: Path, folder: Path) -> Path:
    """A copy of ``report`` with the probe script before ``</body>``."""
    probe = (templates_dir() / PROBE).read_text(encoding="utf-8")
    html = report.read_text(encoding="utf-8")
    if "</body>" not in html:
        raise SystemExit(f"check-html: {report} has no </body>; is it a genreport report?")
    copy = folder / "report-probed.html"
    copy.write_text(html.replace("</body>", f"<script>{probe}</script></body>", 1), encoding="utf-8")
    return copy


def attribute(dom: str, name: str) -> int:
    match = re.search(rf'{name}="(\d+)"', dom)
    return int(match.group(1)) if match else 0


def check_report(report: Path) -> BrowserCheck:
    """Load ``report`` headless, count broken images and console errors, and screenshot the whole page."""
    report = Path(report).resolve()
    if not report.is_file():
        raise SystemExit(f"check-html: {report} does not exist; run `make report` (or pass the report's path) first")
    with tempfile.TemporaryDirectory() as tmp:
        copy = probed_copy(report, Path(tmp))
        loaded = run_browser(["--virtual-time-budget=10000", "--dump-dom", copy.as_uri()])
        check = BrowserCheck(
            images=attribute(loaded.stdout, "data-images-total"),
            broken_images=attribute(loaded.stdout, "data-images-broken"),
            page_height=attribute(loaded.stdout, "data-page-height"),
            console_errors=[line.strip() for line in loaded.stderr.splitlines() if CONSOLE_ERROR.search(line)],
        )
        height = min(max(check.page_height, 800), MAX_SCREENSHOT_HEIGHT)
        screenshot = report.with_name("report-screenshot.png")
        run_browser([f"--screenshot={screenshot}", f"--window-size=1280,{height}", "--virtual-time-budget=10000", copy.as_uri()])
        check.screenshot = screenshot if screenshot.is_file() else None
    return check


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    report = Path(args[0]) if args else Path("out/report.html")
    check = check_report(report)
    shot = f"{check.screenshot} (1280 x {min(check.page_height, MAX_SCREENSHOT_HEIGHT)} px)" if check.screenshot else "no screenshot"
    print(f"check-html: {check.images} images, {check.broken_images} did not load, "
          f"{len(check.console_errors)} console errors; screenshot {shot}")
    for line in check.console_errors[:10]:
        print(f"  console: {line[:200]}")
    return 0 if check.passed else 1


if __name__ == "__main__":
    sys.exit(main())
