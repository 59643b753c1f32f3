#!/usr/bin/env bash
# `make demo`: prepare the Shakespeare data, train the baseline and MTASK-M with
# configs/demo.flags, and print their dev perplexities side by side.
# Rerunning resumes (or skips) finished work; `make clean` starts over.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DATA=data/shakespeare
RUNS=runs/demo
TARGETS=HAMLET,IAGO,ROSALIND,FALSTAFF

$PY -m mtask_tf.prepare --corpus=shakespeare --targets=$TARGETS --seed=1 --output_dir=$DATA
# The baseline trains as many Seq2Seq steps as MTASK-M's two stages together
# (demo.flags: 600 + 300), so the comparison is not about training time.
echo "== training baseline =="
$PY -m mtask_tf.train --flagfile=configs/baseline.flags --flagfile=configs/demo.flags \
  --data_dir=$DATA --model_dir=$RUNS/baseline --pretrain_max_steps=900
echo "== training mtask_m =="
$PY -m mtask_tf.train --flagfile=configs/mtask_m.flags --flagfile=configs/demo.flags \
  --data_dir=$DATA --model_dir=$RUNS/mtask_m
# Dev perplexities, then what the two models answer to a few test inputs of two
# targets (beam 10, forward score; `make demo-eval` adds MMI reranking).
$PY -m mtask_tf.compare $RUNS/baseline $RUNS/mtask_m --samples=$DATA/test.tsv \
  --sample_targets=HAMLET,FALSTAFF --samples_per_target=3 --beam_size=10
echo "TensorBoard: .venv/bin/tensorboard --logdir=$RUNS"
