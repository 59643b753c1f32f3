"""Decoding many inputs in batches with a `Responder`, as plain Python results."""

import dataclasses
import time

import tensorflow as tf

from mtask_tf.data import detokenizer


@dataclasses.dataclass
class Hypothesis:
    response: str  # Tokens, as metrics and reranking read them.
    display: str  # The same response as readable text (`data.detokenizer`).
    score: float
    forward_log_prob: float
    reverse_log_prob: float
    length: int  # Tokens, EOS included.
    message_length: int  # The message's tokens, EOS included, as the reverse model scores it.


def _hypotheses(outputs, row):
    return [
        Hypothesis(
            outputs["responses"][row, k].decode("utf-8"),
            detokenizer.detokenize(outputs["responses"][row, k].decode("utf-8")),
            float(outputs["scores"][row, k]),
            float(outputs["forward_log_prob"][row, k]),
            float(outputs["reverse_log_prob"][row, k]),
            int(outputs["lengths"][row, k]),
            int(outputs["message_lengths"][row]),
        )
        for k in range(outputs["lengths"].shape[1])
        if outputs["lengths"][row, k] > 0
    ]


def decode(responder, rows, batch_size, progress=None):
    """Reranked N-best lists for triples (or queries), in input order.

    Args:
        responder: a `Responder`.
        rows: `records.Triple`s; `response` is ignored.
        batch_size: inputs per `generate` call.
        progress: optional function(done, total, seconds) called after each batch.
    Returns:
        One list of `Hypothesis` per row, best first.
    """
    results, start = [], time.time()
    for begin in range(0, len(rows), batch_size):
        batch = rows[begin : begin + batch_size]
        outputs = responder.generate(
            tf.constant([r.context for r in batch]),
            tf.constant([r.message for r in batch]),
            tf.constant([r.speaker for r in batch]),
        )
        outputs = {k: v.numpy() for k, v in outputs.items()}
        results.extend(_hypotheses(outputs, i) for i in range(len(batch)))
        if progress is not None:
            progress(len(results), len(rows), time.time() - start)
    return results


def progress_printer(label, stream):
    """A `progress` callback printing items/s and ETA at most every two seconds."""
    last = [0.0]

    def show(done, total, seconds):
        if seconds - last[0] < 2 and done < total:
            return
        last[0] = seconds
        rate = done / max(seconds, 1e-9)
        eta = (total - done) / max(rate, 1e-9)
        print(
            f"{label}: {done}/{total}  {rate:.1f} items/s  ETA {eta:.0f}s", file=stream, flush=True
        )

    return show
