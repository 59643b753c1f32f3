"""Beam search speed of the real `Responder` (beam 50, 20 tokens) against its compute bound.

The search keeps the paper's full N-best list (every finished hypothesis, up
to beam x max_length); reranking is measured apart from it: on the list the
search really produced, and on a full buffer of beam x max_length candidates
(the most a request can ever have to rerank). The same request is decoded with
`decode_dtype="bf16"` (a bfloat16 search, its list rescored in float32), split
into the search and the rescoring, and its scores checked against float32
teacher-forced scoring.
"""

import dataclasses
import pathlib
import random
import tempfile

import keras
import tensorflow as tf

from benchmarks import stats
from mtask_tf.data import tokenizer as tokenizer_lib
from mtask_tf.data import vocabulary
from mtask_tf.decoding import beam_search as beam_search_lib
from mtask_tf.decoding import responder as responder_lib
from mtask_tf.model import builders
from mtask_tf.model import model_dir as model_dir_lib

SPEAKERS = [f"SPEAKER{i}" for i in range(8)]


def _words(shapes):
    return [f"w{i}" for i in range(shapes.vocabulary_size - len(vocabulary.SPECIAL_TOKENS))]


def _trained(directory, shapes, persona, direction, seed, attention="none"):
    """A randomly initialised model as `model_dir.load_trained` returns it.

    Random weights rarely pick EOS, so hypotheses tend to run to the maximum
    length: the worst case. The steps actually run are counted and reported.
    """
    vocabulary_path = pathlib.Path(directory) / "vocab.txt"
    if not vocabulary_path.exists():
        vocabulary.save_vocabulary(
            vocabulary_path, list(vocabulary.SPECIAL_TOKENS) + _words(shapes)
        )
    config = builders.ModelConfig(
        shapes.vocabulary_size,
        shapes.embedding_dim,
        shapes.units,
        shapes.num_layers,
        len(SPEAKERS) if persona else 0,
        shapes.speaker_dim,
        attention=attention,
    )
    keras.utils.set_random_seed(seed)
    prefix = responder_lib.REVERSE_PREFIX if direction == "reverse" else ""
    models = builders.build_models(config, False, name_prefix=prefix)
    experiment = model_dir_lib.Experiment(
        direction, tuple(SPEAKERS[:2]), shapes.source_length, shapes.target_length
    )
    return model_dir_lib.TrainedModel(
        pathlib.Path(directory),
        config,
        experiment,
        tokenizer_lib.Tokenizer(vocabulary_path),
        SPEAKERS,
        models,
    )


def _count_steps(generator):
    """Makes the generator's step functions count their calls in a variable."""
    counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    make_step = generator.step_fn

    def counting_step_fn(memory=()):
        step = make_step(memory)

        def counting_step(ids, position, state):
            counter.assign_add(1)
            return step(ids, position, state)

        return counting_step

    generator.step_fn = counting_step_fn
    return counter


def _requests(shapes, batch, seed):
    rng = random.Random(seed)
    words = _words(shapes)
    text = lambda: " ".join(rng.choice(words) for _ in range(shapes.source_length // 2))
    column = lambda make: tf.constant([make() for _ in range(batch)])
    return column(text), column(text), column(lambda: SPEAKERS[0])  # context, message, speaker


def step_flops(shapes, persona):
    """FLOPs of one decoder step of one hypothesis: 2 x (LSTM stack + output projection) MACs."""
    u, first = shapes.units, shapes.embedding_dim + (shapes.speaker_dim if persona else 0)
    lstm = sum((d + u) * 4 * u for d in [first] + [u] * (shapes.num_layers - 1))
    return 2 * (lstm + u * shapes.vocabulary_size)


def _decoder_steps(generator, beam_size, steps):
    """A timed call of the decoder step alone, `steps` times for `beam_size` hypotheses.

    The same step function the search runs (LSTM stack and output projection,
    in a tf.while_loop), without the search: what the matmuls take at these
    shapes on this machine, to set beside `bound_s` and `p50_s`.
    """
    ids = tf.fill([beam_size], vocabulary.EOS_ID + 1)
    state, memory = generator.initial_state(tf.ones([1, 4], tf.int32), tf.zeros([1], tf.int32))
    state = beam_search_lib.tile_to_beam(state, beam_size)
    step_fn = generator.step_fn(memory)  # the beam's hypotheses all read input 0
    steps = int(round(steps))

    @tf.function
    def run(state):
        def body(step, total, state):
            logits, state = step_fn(ids, step, state)
            return step + 1, total + tf.cast(logits[0, 0], tf.float32), state

        return tf.while_loop(lambda step, *_: step < steps, body, (0, 0.0, state))[1]

    return lambda: run(state).numpy()


def run(shapes, peak_float32_gflops, quick, beam_size=50, max_length=20):
    with tempfile.TemporaryDirectory() as directory:  # the vocabulary file
        forward = _trained(directory, shapes, True, "forward", 1)
        reverse = _trained(directory, shapes, False, "reverse", 2)
        return _measure(shapes, forward, reverse, peak_float32_gflops, quick, beam_size, max_length)


def _full_buffer(shapes, beam_size, max_length):
    """Reverse-model inputs for beam x max_length candidates of the longest length."""
    rows = beam_size * max_length
    ids = tf.random.stateless_uniform(
        [rows, max_length - 1],
        [3, 4],
        len(vocabulary.SPECIAL_TOKENS),
        shapes.vocabulary_size,
        tf.int32,
    )
    message = tf.random.stateless_uniform(
        [rows, shapes.source_length // 2],
        [5, 6],
        len(vocabulary.SPECIAL_TOKENS),
        shapes.vocabulary_size,
        tf.int32,
    )
    bos = tf.fill([rows, 1], vocabulary.BOS_ID)
    eos = tf.fill([rows, 1], vocabulary.EOS_ID)
    return (
        ids,
        tf.zeros([rows], tf.int32),
        tf.concat([bos, message], 1),
        tf.concat([message, eos], 1),
    )


def _rerank_full_buffer(reverse_generator, shapes, beam_size, max_length):
    """Timed call: reverse scores of a full candidate buffer (one request's worst case)."""
    inputs = _full_buffer(shapes, beam_size, max_length)
    score = tf.function(reverse_generator.score_in_chunks)
    return lambda: score(*inputs)[0].numpy()


def _bf16(shapes, forward, config, one, reps, beam_size, steps):
    """The bf16 figures: whole request, search alone, rescoring alone, score error."""
    responder = responder_lib.Responder(
        forward, None, dataclasses.replace(config, decode_dtype="bf16")
    )
    generator = responder.forward
    source = responder.source_ids(*one[:2])
    speaker = responder.speaker_ids(one[2])

    @tf.function
    def search():
        state = generator.initial_state(source, speaker)
        return state, generator.search(state, beam_size=beam_size, max_length=config.max_length)

    state, result = search()
    rescore = tf.function(generator.rescore)
    latency = stats.time_calls(lambda: responder.generate(*one)["scores"].numpy(), reps)
    search_s = stats.time_calls(lambda: search()[1].scores.numpy(), reps)
    rescore_s = stats.time_calls(lambda: rescore(state, result).scores.numpy(), reps)
    out = responder.generate(*one)
    count = int(tf.size(out["responses"]))
    repeat = lambda column: tf.repeat(column, count)
    exact = responder.score(*(repeat(c) for c in one), tf.reshape(out["responses"], [-1]))
    return {
        "p50_s": stats.percentile(latency, 50),
        "latency_s": stats.summary(latency),
        "search_s": stats.percentile(search_s, 50),
        "rescore_s": stats.percentile(rescore_s, 50),
        "decoder_steps_s": stats.percentile(
            stats.time_calls(_decoder_steps(generator, beam_size, steps), reps), 50
        ),
        "max_score_error": float(
            tf.reduce_max(tf.abs(exact["log_prob"] - tf.reshape(out["forward_log_prob"], [-1])))
        ),
        **_prefix_counts(result),
    }


def _attention(shapes, directory, config, one, reps):
    """The same request (no MMI) to the same-size persona model with Luong attention.

    Random weights make both models run about the same steps; the steps are
    counted, so the cost per step compares too.
    """
    forward = _trained(directory, shapes, True, "forward", 1, attention="luong")
    responder = responder_lib.Responder(forward, None, config)
    counter = _count_steps(responder.forward)
    latency = stats.time_calls(lambda: responder.generate(*one)["scores"].numpy(), reps)
    return {
        "p50_s": stats.percentile(latency, 50),
        "latency_s": stats.summary(latency),
        "steps_run": int(counter.numpy()) / (reps + 1),
    }


def _prefix_counts(result):
    """Token positions of the list, and distinct prefixes among them (what rescoring computes)."""
    ids, lengths = result.ids.numpy()[0], result.lengths.numpy()[0]
    prefixes = {tuple(ids[r, :t]) for r in range(len(lengths)) for t in range(lengths[r])}
    return {"positions": int(lengths.sum()), "distinct_prefixes": len(prefixes)}


def _measure(shapes, forward, reverse, peak_float32_gflops, quick, beam_size, max_length):
    reps, batch_reps = (3, 1) if quick else (15, 3)
    config = responder_lib.DecodeConfig(
        beam_size=beam_size, max_length=max_length, candidates=None, responses=10
    )
    plain = responder_lib.Responder(forward, None, config)
    counter = _count_steps(plain.forward)
    mmi = responder_lib.Responder(
        forward, reverse, dataclasses.replace(config, mmi_lambda=0.5, mmi_gamma=1.0)
    )

    one = _requests(shapes, 1, 1)
    every = responder_lib.Responder(forward, None, dataclasses.replace(config, responses=None))
    candidates = int(tf.reduce_sum(tf.cast(every.generate(*one)["lengths"] > 0, tf.int32)))
    latency = stats.time_calls(lambda: plain.generate(*one)["scores"].numpy(), reps)
    steps = int(counter.numpy()) / (reps + 1)
    mmi_latency = stats.time_calls(lambda: mmi.generate(*one)["scores"].numpy(), reps)
    sixteen = _requests(shapes, 16, 2)
    batch16 = stats.time_calls(lambda: plain.generate(*sixteen)["scores"].numpy(), batch_reps)

    decoder_steps = stats.time_calls(_decoder_steps(plain.forward, beam_size, steps), reps)
    full_rerank = stats.time_calls(
        _rerank_full_buffer(mmi.reverse, shapes, beam_size, max_length), max(1, reps // 3)
    )

    bound = (
        steps * beam_size * step_flops(shapes, True) / (peak_float32_gflops * 1e9)
        if peak_float32_gflops
        else None
    )
    p50 = stats.percentile(latency, 50)
    batch16_rates = stats.summary(stats.rates(16, batch16))
    bf16 = _bf16(shapes, forward, config, one, reps, beam_size, steps)
    bf16["ratio_to_bound"] = bf16["p50_s"] / bound if bound else None
    attention = _attention(shapes, forward.model_dir, config, one, reps)
    attention["p50_over_paper"] = attention["p50_s"] / p50
    attention["per_step_over_paper"] = (attention["p50_s"] / attention["steps_run"]) / (p50 / steps)
    return {
        "bf16": bf16,
        "attention": attention,
        "beam_size": beam_size,
        "max_length": max_length,
        "steps_run": steps,
        "candidates": candidates,
        "candidate_slots": beam_size * max_length,
        "p50_s": p50,
        "p95_s": stats.percentile(latency, 95),
        "latency_s": stats.summary(latency),
        "bound_s": bound,
        "ratio_to_bound": p50 / bound if bound else None,
        "decoder_steps_s": stats.percentile(decoder_steps, 50),
        "batch16_requests_per_s": batch16_rates["median"],
        "batch16_requests_per_s_range": batch16_rates,
        "mmi_extra_s": stats.percentile(mmi_latency, 50) - p50,
        "mmi_latency_s": stats.summary(mmi_latency),
        "rerank_full_list_s": stats.percentile(full_rerank, 50),
    }
