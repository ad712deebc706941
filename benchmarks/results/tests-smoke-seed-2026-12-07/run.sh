#!/bin/sh
# $1 = seed, $2 = tag
rm -rf /tmp/sb/$2
/work/main/.venv/bin/genreport full --preset smoke --seed $1 --output /tmp/sb/$2 -q >/dev/null 2>&1 || exit 1
/work/main/.venv/bin/python -c "import json;r=json.load(open('/tmp/sb/$2/results/run.json'));print('$2', r['stages'])" >> /tmp/sb/stages.txt
