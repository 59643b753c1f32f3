"""Greedy replies to a few dev inputs: what TensorBoard shows at each evaluation.

Training takes this as a callable (`mtask_tf.train` hands it to
`training.experiment.run`), so the training package does not depend on decoding.
"""

import tensorflow as tf

from mtask_tf.data import detokenizer
from mtask_tf.decoding import generator


def dev_sampler(models, tokenizer, rows, examples, max_length, reverse=False, count=3):
    """A function() -> Markdown lines: greedy replies of `models` to the first dev rows.

    Args:
        models: the `builders.ConversationModels` being trained.
        tokenizer: the run's `Tokenizer`.
        rows: the dev `Triple`s; `examples`: their encoded form (pipeline).
        max_length: the most tokens of a reply.
        reverse: the model predicts messages from responses.
    """
    generator_ = generator.Generator(models.encoder, models.decoder)
    rows = rows[:count]
    source = examples["source"][:count].to_tensor()
    speaker = examples["speaker"][:count]
    greedy = tf.function(
        lambda: generator_.greedy(source, speaker, max_length=max_length), autograph=False
    )

    def sample():
        texts = tokenizer.decode(*greedy()).numpy()
        return [
            f"**{row.speaker}**: {row.response if reverse else row.message}  \n"
            f"→ {detokenizer.detokenize(text.decode('utf-8'))}"
            for row, text in zip(rows, texts)
        ]

    return sample
