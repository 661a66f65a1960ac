#!/usr/bin/env bash
# `make demo`: the main job on embedded defaults, end to end on a synthetic CRM export.
# In Danish: `LEADMODEL_LANG=da make demo` (the commands and the lines between them follow
# LEADMODEL_LANG; the lines are catalogue messages of src/leadmodel/demo.py).
set -euo pipefail
out="${1:-out/demo}"
bin=.venv/bin
say() { "$bin/python" -m leadmodel.demo "$@"; }
mkdir -p "$out"
say synth rows=20000 seed=7
"$bin/leadmodel" synth --rows 20000 --seed 7 --out "$out/leads.csv" --truth-out "$out/truth.csv"
say validate
"$bin/leadmodel" validate --data "$out/leads.csv" --rejects "$out/rejects.csv"
say train "store=$MLFLOW_TRACKING_URI"
"$bin/leadmodel" train --data "$out/leads.csv" --experiment demo
say report
"$bin/leadmodel" report --data "$out/leads.csv" --out "$out/report.html" --capacity 150
say report_at "path=$(cd "$out" && pwd)/report.html"
say score rows=5000
"$bin/leadmodel" synth --rows 5000 --seed 99 --world 7 --out "$out/new_leads.csv" >/dev/null
"$bin/leadmodel" score --data "$out/new_leads.csv" --out "$out/scores.csv" --reasons 3 \
    --rejects "$out/score_rejects.csv"
say preview "$out/scores.csv"
say history "command=$bin/leadmodel history L0000001"
say monitor
"$bin/leadmodel" synth --rows 8000 --seed 100 --world 7 --as-of 2026-10-31 \
    --scenario new_source --scenario-from 2026-07-06 --out "$out/drifted_leads.csv" >/dev/null
rm -rf "$out/drifted_log"  # its own log: this batch's lead ids are those of step 5's too
"$bin/leadmodel" score --data "$out/drifted_leads.csv" --out "$out/drifted_scores.csv" \
    --log "$out/drifted_log" >/dev/null
verdict=0
"$bin/leadmodel" monitor --log "$out/drifted_log" --outcomes "$out/drifted_leads.csv" \
    --out "$out/monitor.html" || verdict=$?
[ "$verdict" -le 1 ] || exit "$verdict"  # 1 = an alarm, which this batch is meant to raise
say monitor_at "path=$(cd "$out" && pwd)/monitor.html" "code=$verdict"
echo
say done "command=$bin/mlflow ui --backend-store-uri $MLFLOW_TRACKING_URI"
