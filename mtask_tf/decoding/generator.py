"""Response generation and scoring with a trained encoder and decoder, on id tensors.

The bridge between the models and the model-agnostic beam search: it turns
the decoder into a step function whose state carries the decoder's state and
the speaker id (so beam reordering moves the speaker along with the
hypothesis). A decoder with attention also reads its input's encoder outputs
(`attention.Memory`): they stay outside the search's state, one copy per
input that every hypothesis of the input reads (hypotheses are grouped by
input in the search's batch-major layout), so reordering beams never copies
them.
"""

import tensorflow as tf

from mtask_tf.data import vocabulary
from mtask_tf.decoding import beam_search as beam_search_lib
from mtask_tf.decoding import low_precision
from mtask_tf.decoding import sampling
from mtask_tf.model import losses

# Never propose padding, BOS, <unk>, or an empty response (EOS first). Their
# probability is not spread over the other words, so a score stays the model's
# log-probability of the sequence.
_SEARCH_IDS = dict(
    bos_id=vocabulary.BOS_ID,
    eos_id=vocabulary.EOS_ID,
    min_length=1,
    blocked_ids=(vocabulary.PAD_ID, vocabulary.BOS_ID, vocabulary.UNK_ID),
)


# Numbers of logits one scoring call may hold (128 MB of float32).
_LOGITS_BUDGET = 1 << 25


class Generator(tf.Module):
    """Beam search and teacher-forced scoring for one encoder-decoder pair.

    Args:
        encoder: an `Encoder` (source ids -> LSTM states).
        decoder: the `Decoder` trained with it.
        search_dtype: "float32", or "bf16": the beam search runs the decoder's
            matmuls in bfloat16 (`low_precision`) and the N-best list is
            rescored in float32, so returned scores are float32
            log-probabilities all the same. Scoring is always float32.

    Example:
    >>> generator = Generator(models.encoder, models.decoder)
    >>> nbest = generator.generate(source, speaker, beam_size=10, max_length=20, nbest=5)
    """

    def __init__(self, encoder, decoder, search_dtype="float32", name=None):
        super().__init__(name=name)
        if search_dtype not in low_precision.DTYPES:
            raise ValueError(
                f"search_dtype must be one of {', '.join(low_precision.DTYPES)}, "
                f"got {search_dtype!r}"
            )
        self.encoder = encoder
        self.decoder = decoder
        self.search_dtype = search_dtype
        self.search_decoder = (
            low_precision.Bfloat16Decoder(decoder) if search_dtype == "bf16" else decoder
        )

    def step_fn(self, memory=()):
        """The search's step function over `search_dtype`'s decoder, reading `memory`."""

        def step(ids, step, state):
            decoder_state, speaker = state
            speaker = speaker if self.decoder.num_speakers else None
            logits, decoder_state = self.search_decoder.step(ids, decoder_state, speaker, memory)
            return logits, (decoder_state, state[1])

        return step

    def encode(self, source):
        """int32 [batch, time] -> the decoder's initial state, and its `attention.Memory` or ()."""
        outputs, states = self.encoder(source)
        memory = self.decoder.attention_memory(outputs, tf.not_equal(source, vocabulary.PAD_ID))
        return self.decoder.initial_state(states), memory

    def initial_state(self, source, speaker):
        """int32 [batch, time], [batch] -> (search state, memory) for `search` and `rescore`.

        The search state is what `beam_search` tiles and reorders: the
        decoder's state and the speaker ids; the memory is per input.
        """
        decoder_state, memory = self.encode(source)
        return (decoder_state, tf.cast(speaker, tf.int32)), memory

    def generate(self, source, speaker, *, beam_size, max_length, nbest=None, **guards):
        """N-best responses: a `BeamSearchResult` ([batch, nbest, max_length] ids, ...).

        nbest=None keeps every finished hypothesis (beam_size * max_length slots).
        Scores are float32 log-probabilities whatever `search_dtype` is.
        guards: `no_repeat_ngram_size=n`, passed to `beam_search`.
        """
        state = self.initial_state(source, speaker)
        result = self.search(
            state, beam_size=beam_size, max_length=max_length, nbest=nbest, **guards
        )
        return result if self.search_dtype == "float32" else self.rescore(state, result)

    def sample(self, source, speaker, *, num_samples, max_length, seed, options=None, **guards):
        """Distinct sampled responses, best first: a `BeamSearchResult` ([batch, num_samples, ...]).

        seed: int64 scalar or [batch], each input's seed (`sampling.sample`);
        options: a `sampling.SamplingOptions` (None: plain sampling).
        Scores are float32 log-probabilities whatever `search_dtype` is.
        """
        state = self.initial_state(source, speaker)
        search_state, memory = state
        result = sampling.sample(
            self.step_fn(memory),  # samples are grouped by input, as beams are
            search_state,
            tf.shape(source)[0],
            num_samples=num_samples,
            max_length=max_length,
            seed=seed,
            options=options,
            **guards,
            **_SEARCH_IDS,
        )
        return result if self.search_dtype == "float32" else self.rescore(state, result)

    def search(self, state, *, beam_size, max_length, nbest=None, **guards):
        """The beam search alone from `initial_state(...)`, in `search_dtype`.

        Its scores are the search's own: with bf16, bfloat16 approximations
        (`generate` replaces them by `rescore`'s).
        """
        state, memory = state
        batch_size = tf.shape(state[1])[0]
        return beam_search_lib.beam_search(
            self.step_fn(memory),
            state,
            batch_size,
            beam_size=beam_size,
            max_length=max_length,
            nbest=nbest,
            **guards,
            **_SEARCH_IDS,
        )

    def rescore(self, state, result):
        """The `BeamSearchResult` with float32 teacher-forced scores, re-sorted by them.

        state: `initial_state(source, speaker)` of the search's inputs. Every
        filled slot is scored teacher-forced from its input's encoder state,
        the softmax normaliser once per distinct prefix
        (`low_precision.exact_log_probs`); empty slots stay empty (-inf, last).
        """
        (encoded, speaker), memory = state
        batch, slots, length = (tf.shape(result.ids)[i] for i in range(3))
        filled = tf.where(tf.reshape(result.lengths, [-1]) > 0)  # [rows, 1]
        rows = tf.cast(filled[:, 0], tf.int32) // slots
        target_out = tf.gather_nd(tf.reshape(result.ids, [batch * slots, length]), filled)
        bos = tf.fill([tf.shape(target_out)[0], 1], vocabulary.BOS_ID)
        target_in = tf.concat([bos, target_out[:, :-1]], axis=1)
        row_states = tf.nest.map_structure(lambda x: tf.gather(x, rows), encoded)
        log_prob = low_precision.exact_log_probs(
            self.decoder,
            row_states,
            rows,
            tf.gather(speaker, rows),
            target_in,
            target_out,
            _LOGITS_BUDGET,
            memory,
        )
        scores = tf.reshape(tf.scatter_nd(filled, log_prob, [batch * slots]), [batch, slots])
        scores = tf.where(result.lengths > 0, scores, -float("inf"))
        order = tf.argsort(scores, axis=1, direction="DESCENDING", stable=True)
        take = lambda x: tf.gather(x, order, batch_dims=1)
        return beam_search_lib.BeamSearchResult(
            take(result.ids), take(result.lengths), take(scores)
        )

    def greedy(self, source, speaker, *, max_length, **guards):
        """The single most probable word at each step: ids [batch, max_length], lengths."""
        state, memory = self.initial_state(source, speaker)
        result = beam_search_lib.greedy_search(
            self.step_fn(memory),
            state,
            tf.shape(source)[0],
            max_length=max_length,
            **guards,
            **_SEARCH_IDS,
        )
        return result.ids[:, 0], result.lengths[:, 0]

    def score(self, source, speaker, target_in, target_out):
        """log p(target | source, speaker) summed over tokens (EOS included), and token counts.

        int32 [batch, time] x 4 -> float32 [batch], int32 [batch].
        """
        speaker = tf.cast(speaker, tf.int32) if self.decoder.num_speakers else None
        outputs, states = self.encoder(source)
        mask = tf.not_equal(source, vocabulary.PAD_ID)
        logits = self.decoder(target_in, states, speaker, memory=outputs, memory_mask=mask)
        nll, weights = losses.token_nll(logits, target_out)
        return -tf.reduce_sum(nll, axis=1), tf.cast(tf.reduce_sum(weights, axis=1), tf.int32)

    def attention_weights(self, source, speaker, target_in):
        """Teacher-forced attention weights [batch, target_time, source_time] (float32).

        Needs a decoder with attention.
        """
        if self.decoder.attention is None:
            raise ValueError("attention_weights: this model has no attention (--attention=none)")
        (decoder_state, speaker), memory = self.initial_state(source, speaker)
        speaker = speaker if self.decoder.num_speakers else None
        encoder_states = decoder_state[0]
        return self.decoder.attention_weights(target_in, encoder_states, speaker, memory)

    def score_in_chunks(self, source, speaker, target_in, target_out, budget=_LOGITS_BUDGET):
        """`score` over groups of rows whose logits hold at most `budget` numbers (or one row).

        For the many candidates of full N-best lists (MMI's reverse scores:
        hundreds of rows an input, all with that input's message as target).
        Rows are taken longest target first, and each group is cut to its own
        longest target and source, so no row pays for another input's longer
        message; memory stays bounded however many rows there are, and each
        group is still one large matmul. Results are in the input order.
        """
        rows = tf.shape(source)[0]
        target_lengths = _row_lengths(target_out)
        order = tf.argsort(target_lengths, direction="DESCENDING", stable=True)
        source, speaker, target_in, target_out, target_lengths = (
            tf.gather(x, order) for x in (source, speaker, target_in, target_out, target_lengths)
        )
        source_lengths = _row_lengths(source)
        growing = dict(size=0, dynamic_size=True, infer_shape=False, element_shape=[None])
        arrays = (tf.TensorArray(tf.float32, **growing), tf.TensorArray(tf.int32, **growing))

        def body(i, begin, log_probs, counts):
            # Sorted: the group's first row has its longest target.
            length = tf.maximum(target_lengths[begin], 1)
            chunk = tf.maximum(1, budget // (length * self.decoder.vocabulary_size))
            part = slice(begin, tf.minimum(begin + chunk, rows))
            width = tf.maximum(tf.reduce_max(source_lengths[part]), 1)
            log_prob, count = self.score(
                source[part, :width],
                speaker[part],
                target_in[part, :length],
                target_out[part, :length],
            )
            return i + 1, part.stop, log_probs.write(i, log_prob), counts.write(i, count)

        _, _, log_probs, counts = tf.while_loop(
            lambda i, begin, *_: begin < rows, body, (0, 0, *arrays)
        )
        inverse = tf.math.invert_permutation(order)
        return tf.gather(log_probs.concat(), inverse), tf.gather(counts.concat(), inverse)


def _row_lengths(ids):
    """int32 [rows, time] -> int32 [rows]: one past each row's last non-PAD id (0: all PAD).

    Columns from there on are padding only, so cutting them changes no score
    (the encoder masks padding, and padded targets weigh nothing).
    """
    positions = tf.range(1, tf.shape(ids)[1] + 1)[None, :]
    last = tf.reduce_max(tf.where(tf.not_equal(ids, vocabulary.PAD_ID), positions, 0), axis=1)
    return tf.maximum(last, 0)  # reduce_max of no columns is the smallest int32
