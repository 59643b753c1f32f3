#!/usr/bin/env bash
# `make demo-enroll`: a persona model trained without FALSTAFF, then FALSTAFF
# enrolled from his own lines (python -m mtask_tf.enroll, --adapt=speaker),
# with his dev perplexity before and after and a curve over the lines used.
# Rerunning resumes the training and shows the finished enrolment again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATA=data/shakespeare
RUNS=runs/demo

$PY -m mtask_tf.prepare --corpus=shakespeare --targets=HAMLET,IAGO,ROSALIND,FALSTAFF \
  --seed=1 --output_dir=$DATA
echo "== training mtask_m without FALSTAFF =="
$PY -m mtask_tf.train --flagfile=configs/mtask_m.flags --flagfile=configs/demo.flags \
  --data_dir=$DATA --targets=HAMLET,IAGO,ROSALIND --model_dir=$RUNS/mtask_m_3
echo "== enrolling FALSTAFF from his lines =="
if [ -f $RUNS/mtask_m_falstaff/enroll.json ]; then
  echo "already enrolled ($RUNS/mtask_m_falstaff/enroll.json):"
  $PY -c "import json, sys; from mtask_tf.training import enrollment; \
print(enrollment.summary(json.load(open(sys.argv[1]))))" $RUNS/mtask_m_falstaff/enroll.json
else
  time $PY -m mtask_tf.enroll --model_dir=$RUNS/mtask_m_3 --speaker=FALSTAFF \
    --text=$DATA/monologue.tsv --dev=$DATA/dev.tsv --curve=30,100,300 \
    --output_dir=$RUNS/mtask_m_falstaff
fi
