#!/usr/bin/env bash
# After `make demo-eval`: a preference test of MTASK-M against the baseline on the
# demo's test responses, and both pages (judging, talk to a persona) on one port.
# Ctrl-C stops both servers; run it again and judging continues where it was.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
RUNS=runs/demo
PORT=${PORT:-8080}
REST_PORT=${REST_PORT:-8501}
JUDGES=${JUDGES:-judge1,judge2,judge3}

$PY -m mtask_tf.human_eval prepare \
  --systems=baseline=$RUNS/eval/baseline.test.responses.tsv,mtask_m=$RUNS/eval/mtask_m.test.responses.tsv \
  --monologue=data/shakespeare/monologue.tsv --judges_per_item=7 \
  --output=$RUNS/human_eval/task.json
$PY -m serving.server --model_config_file=serving/models.config --host=127.0.0.1 \
  --port=${GRPC_PORT:-8500} --rest_api_port=$REST_PORT > $RUNS/serving.log 2>&1 &
SERVING=$!
trap 'kill $SERVING 2>/dev/null' EXIT
until grep -q '^ready' $RUNS/serving.log; do
  kill -0 $SERVING 2>/dev/null || { cat $RUNS/serving.log; exit 1; }
  sleep 0.5
done
echo "analyze the answers with:"
echo "  $PY -m mtask_tf.human_eval analyze --task=$RUNS/human_eval/task.json --output_dir=$RUNS/human_eval/report"
echo "serve prints each judge's link (JUDGES=$JUDGES); send judges their own"
$PY -m mtask_tf.human_eval serve --task=$RUNS/human_eval/task.json --port=$PORT \
  --judges=$JUDGES --serving_url=http://127.0.0.1:$REST_PORT
