#!/usr/bin/env bash
# `genreport render --format html` of one results folder in fresh processes, alternating
# pipeline/scoring/stats.py as at BEFORE (scipy.stats imported at the top) and as in the checkout
# (imported where the Wilcoxon test runs). Usage, from the repository root:
#   benchmarks/results/scipy-stats-lazy-2026-12-07/render_abba.sh BEFORE_COMMIT RESULTS_DIR ROUNDS
set -euo pipefail
before=$1 results=$2 rounds=$3
cp pipeline/scoring/stats.py /tmp/stats.after.py
git show "$before:pipeline/scoring/stats.py" > /tmp/stats.before.py
trap 'cp /tmp/stats.after.py pipeline/scoring/stats.py' EXIT
one() {
  cp "/tmp/stats.$1.py" pipeline/scoring/stats.py
  out=$(mktemp -d)
  /usr/bin/time -f "$1 %e s wall %U user %S system" .venv/bin/genreport render --results "$results" --output "$out/r" --format html -q 2>&1 | tail -1
  rm -rf "$out"
}
for r in $(seq 1 "$rounds"); do
  if (( r % 2 )); then one before; one after; else one after; one before; fi
done
