#!/bin/bash
# one smoke run; $1 = new (working tree) or old (HEAD worktree). Keeps the last run's results per variant.
[ "$1" = old ] && export PYTHONPATH=/tmp/exp/oldpkg
d=/tmp/exp/keep-$1; rm -rf $d; mkdir -p $d
/work/main/.venv/bin/genreport full --preset smoke -o $d/out > $d/log 2>&1; rc=$?
grep "mean SSIM" $d/log >> /tmp/exp/ssim-$1.txt
python3 -c "import json; d=json.load(open('$d/out/results/run.json')); print({s['name']: s['seconds'] for s in d['stages']})" >> /tmp/exp/stages-$1.txt
exit $rc
