#!/usr/bin/env bash
# `make demo-eval`, after `make demo`: train the reverse model, tune the MMI
# weights with MERT on dev, evaluate baseline and MTASK-M side by side (the
# paper's Tables 1-2 and Fig. 4), and export MTASK-M for TensorFlow Serving.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATA=data/shakespeare
RUNS=runs/demo
BEAM="--beam_size=${BEAM_SIZE:-10} --max_length=20"

echo "== training the reverse model =="
$PY -m mtask_tf.train --flagfile=configs/reverse.flags --flagfile=configs/demo.flags \
  --data_dir=$DATA --model_dir=$RUNS/reverse --pretrain_max_steps=900
for system in baseline mtask_m; do
  echo "== tuning MMI weights for $system =="
  $PY -m mtask_tf.tune_mmi --model_dir=$RUNS/$system --reverse_model_dir=$RUNS/reverse \
    --data=$DATA/dev.tsv --output=$RUNS/$system/mmi.json $BEAM
done
echo "== evaluating =="
$PY -m mtask_tf.evaluate \
  --systems=baseline=$RUNS/baseline:$RUNS/baseline/mmi.json,mtask_m=$RUNS/mtask_m:$RUNS/mtask_m/mmi.json \
  --reverse_model_dir=$RUNS/reverse --data=$DATA/dev.tsv,$DATA/test.tsv \
  --output_dir=$RUNS/eval $BEAM
echo "== exporting mtask_m =="
$PY -m mtask_tf.export --model_dir=$RUNS/mtask_m --reverse_model_dir=$RUNS/reverse \
  --mmi=$RUNS/mtask_m/mmi.json --export_base=export/mtask_m $BEAM
