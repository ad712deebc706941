#!/bin/bash
# One `genreport full --preset smoke` into a fresh folder; $1 = new (the working tree) or old (a
# worktree of the earlier commit put first on PYTHONPATH). Appends its whole-process accounting,
# stage seconds, the tuned variant's fit seconds and its last line to $OUTDIR/*-$1.txt.
OUTDIR=${OUTDIR:-/tmp/exp2/rec}
[ "$1" = old ] && export PYTHONPATH=/tmp/exp2/oldpkg
d=/tmp/exp2/keep-$1; rm -rf $d; mkdir -p $d
export TF_CPP_MIN_LOG_LEVEL=3
/usr/bin/time -f "%e s wall, %U user, %S system, %M KiB peak" -o $d/time /work/main/.venv/bin/genreport full --preset smoke -o $d/out > $d/log 2>&1; rc=$?
echo "$(tail -1 $d/log) | $(cat $d/time)" >> $OUTDIR/whole-$1.txt
python3 -c "
import json; d=json.load(open('$d/out/results/run.json'))
print({s['name']: s['seconds'] for s in d['stages']})" >> $OUTDIR/stages-$1.txt
exit $rc
