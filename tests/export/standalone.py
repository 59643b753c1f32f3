"""Runs an exported SavedModel with nothing but TensorFlow: `python -m tests.export.standalone`.

    python -m tests.export.standalone SAVED_MODEL INPUTS_JSON

prints one JSON line. The tests run it through the test zygote (tests/zygote.py),
a process that imported TensorFlow but no mtask_tf module; the one check in a
truly fresh interpreter is test_export.test_fresh_process_matches_decode_and_reports_bad_input.

generate: what the generate signature returns. rescored: for each input, the
forward_log_prob of every returned response and its score by the `score`
signature. dtypes: the variables' dtypes. same and other: generate_seeded with
the export's seed (4) and another (5).
"""

import json
import sys

import tensorflow as tf


def _numbers(outputs):
    return {name: value.numpy().tolist() for name, value in outputs.items()}


def rescored(model, inputs, out):
    rows = []
    for row in range(int(tf.size(inputs["message"]))):
        filled = out["lengths"][row].numpy() > 0
        responses = tf.boolean_mask(out["responses"][row], filled)
        same = {k: tf.repeat(v[row : row + 1], tf.size(responses)) for k, v in inputs.items()}
        scored = model.signatures["score"](response=responses, **same)["log_prob"]
        returned = tf.boolean_mask(out["forward_log_prob"][row], filled)
        rows.append([returned.numpy().tolist(), scored.numpy().tolist()])
    return rows


def seeded(model, inputs):
    seed = lambda s: tf.fill(tf.shape(inputs["message"]), tf.constant(s, tf.int64))
    generate = model.signatures["generate_seeded"]
    runs = (("same", 4), ("other", 5))
    return {name: _numbers(generate(seed=seed(s), **inputs)) for name, s in runs}


def main(path, inputs):
    model = tf.saved_model.load(path)
    inputs = {k: tf.constant(v) for k, v in json.loads(inputs).items()}
    generate = model.signatures["generate"]
    out = generate(**inputs)
    result = {
        "generate": _numbers(out),
        "rescored": rescored(model, inputs, out),
        "dtypes": sorted({v.dtype.name for v in generate.variables}),
        **seeded(model, inputs),
    }
    # Loading and running the export imported no mtask_tf module.
    result["mtask_tf_modules"] = sorted(m for m in sys.modules if m.startswith("mtask_tf."))
    print(json.dumps(result, default=lambda b: b.decode()))


if __name__ == "__main__":
    main(*sys.argv[1:])
