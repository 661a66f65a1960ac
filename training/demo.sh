#!/usr/bin/env bash
# `make demo`: the main job on embedded defaults, end to end on a synthetic CRM export.
set -euo pipefail
out="${1:-out/demo}"
bin=.venv/bin
mkdir -p "$out"
echo "== 1. generate a synthetic CRM export (20,000 leads, seed 7)"
"$bin/leadmodel" synth --rows 20000 --seed 7 --out "$out/leads.csv" --truth-out "$out/truth.csv"
echo "== 2. validate it"
"$bin/leadmodel" validate --data "$out/leads.csv" --rejects "$out/rejects.csv"
echo "== 3. train, evaluate, track in MLflow ($MLFLOW_TRACKING_URI) and register"
"$bin/leadmodel" train --data "$out/leads.csv" --experiment demo
echo "== 4. write the marketing report (reasons, sources, awareness, hand-over threshold)"
"$bin/leadmodel" report --data "$out/leads.csv" --out "$out/report.html" --capacity 150
echo "report: $(cd "$out" && pwd)/report.html"
echo "== 5. score a fresh batch of 5,000 leads with the champion, as the nightly CRM sync does"
"$bin/leadmodel" synth --rows 5000 --seed 99 --world 7 --out "$out/new_leads.csv" >/dev/null
"$bin/leadmodel" score --data "$out/new_leads.csv" --out "$out/scores.csv" --reasons 3 \
    --rejects "$out/score_rejects.csv"
"$bin/python" -c 'import sys, pandas as pd; pd.set_option("display.width", 200); pd.set_option("display.max_colwidth", 90); print(pd.read_csv(sys.argv[1])[["lead_id", "p_accept", "p_close", "score", "tier", "reasons"]].head().round(3).to_string(index=False))' "$out/scores.csv"
echo "(every score is also in the prediction log: $bin/leadmodel history L0000001)"
echo "== 6. later: a batch in which a new channel brings leads the model never saw; monitor it"
"$bin/leadmodel" synth --rows 8000 --seed 100 --world 7 --as-of 2026-10-31 \
    --scenario new_source --scenario-from 2026-07-06 --out "$out/drifted_leads.csv" >/dev/null
rm -rf "$out/drifted_log"  # its own log: this batch's lead ids are those of step 5's too
"$bin/leadmodel" score --data "$out/drifted_leads.csv" --out "$out/drifted_scores.csv" \
    --log "$out/drifted_log" >/dev/null
verdict=0
"$bin/leadmodel" monitor --log "$out/drifted_log" --outcomes "$out/drifted_leads.csv" \
    --out "$out/monitor.html" || verdict=$?
[ "$verdict" -le 1 ] || exit "$verdict"  # 1 = an alarm, which this batch is meant to raise
echo "monitoring page: $(cd "$out" && pwd)/monitor.html (exit code $verdict: 1 = alarm)"
echo
echo "Done. Browse the runs: $bin/mlflow ui --backend-store-uri $MLFLOW_TRACKING_URI"
