"""Runs an exported SavedModel with nothing but TensorFlow: `python -m tests.export.standalone`.

    python -m tests.export.standalone rescored|seeded SAVED_MODEL INPUTS_JSON

prints one JSON line. The tests run it through the test zygote (tests/zygote.py),
a process that imported TensorFlow but no mtask_tf module; the one check in a
truly fresh interpreter is test_export.test_fresh_process_matches_decode_and_reports_bad_input.

rescored: generate's full list, and every returned response scored again by
`score`; the variables' dtypes.
seeded: generate, then generate_seeded with the export's seed (4) and another (5).
"""

import json
import sys

import tensorflow as tf


def _numbers(outputs):
    return {name: value.numpy().tolist() for name, value in outputs.items()}


def rescored(model, inputs):
    out = model.signatures["generate"](**inputs)
    rows = []
    for row in range(int(tf.size(inputs["message"]))):
        filled = out["lengths"][row].numpy() > 0
        responses = tf.boolean_mask(out["responses"][row], filled)
        same = {k: tf.repeat(v[row : row + 1], tf.size(responses)) for k, v in inputs.items()}
        scored = model.signatures["score"](response=responses, **same)["log_prob"]
        returned = tf.boolean_mask(out["forward_log_prob"][row], filled)
        rows.append([returned.numpy().tolist(), scored.numpy().tolist()])
    dtypes = sorted({v.dtype.name for v in model.signatures["generate"].variables})
    return {"rows": rows, "dtypes": dtypes}


def seeded(model, inputs):
    seed = lambda s: tf.fill(tf.shape(inputs["message"]), tf.constant(s, tf.int64))
    out = {"generate": _numbers(model.signatures["generate"](**inputs))}
    for name, s in (("same", 4), ("other", 5)):
        out[name] = _numbers(model.signatures["generate_seeded"](seed=seed(s), **inputs))
    return out


def main(mode, path, inputs):
    model = tf.saved_model.load(path)
    inputs = {k: tf.constant(v) for k, v in json.loads(inputs).items()}
    out = {"rescored": rescored, "seeded": seeded}[mode](model, inputs)
    # Loading and running the export imported no mtask_tf module.
    out["mtask_tf_modules"] = sorted(m for m in sys.modules if m.startswith("mtask_tf."))
    print(json.dumps(out, default=lambda b: b.decode()))


if __name__ == "__main__":
    main(*sys.argv[1:])
