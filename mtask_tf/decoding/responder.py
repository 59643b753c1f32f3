"""Text in, reranked responses out: tokenisation, beam search and MMI reranking in one graph.

`Responder` is what `mtask_tf.decode` runs and what `mtask_tf.export` saves, so
the command line and TensorFlow Serving give the same N-best lists.
"""

import dataclasses

import tensorflow as tf

from mtask_tf.data import vocabulary
from mtask_tf.decoding import beam_search as beam_search_lib
from mtask_tf.decoding import generator as generator_lib
from mtask_tf.decoding import mmi
from mtask_tf.decoding import sampling
from mtask_tf.model import model_dir as model_dir_lib

STRING_BATCH = tf.TensorSpec([None], tf.string)
SEED_BATCH = tf.TensorSpec([None], tf.int64)
# Layer-name prefix of the reverse model, so its variables' names differ from the
# forward model's in one graph (TensorFlow Serving's loader needs unique names).
REVERSE_PREFIX = "reverse_"
# Scored texts are never cut: a score covers every token of the response.
_WHOLE = 1 << 20


@dataclasses.dataclass(frozen=True)
class DecodeConfig(mmi.SearchSettings):
    """The search (`mmi.SearchSettings`: beam, length, candidates, guards, sampling;
    paper section 6.4: B = 50, 20 tokens) and what is done with its N-best list.

    Every finished candidate of the search is reranked with

    score(R) = log p(R | M, v) + mmi_lambda * log p(M | R) + mmi_gamma * |R|,

    where |R| is the number of words of R (EOS not counted), and the best
    `responses` are returned (None: all).

    decode_dtype "bf16" runs the search's matmuls in bfloat16 and rescores its
    N-best list in float32 (`low_precision`): faster where the CPU has
    bfloat16 instructions, the same exact scores, possibly other candidates.
    `generate` draws samples (num_samples > 0) with sampling_seed,
    `generate_seeded` with a seed per input.
    """

    responses: int | None = 5
    mmi_lambda: float = 0.0
    mmi_gamma: float = 0.0
    decode_dtype: str = "float32"
    sampling_seed: int = 0


class Responder(tf.Module):
    """Generates and scores responses of a trained model, optionally MMI-reranked.

    Args:
        forward: a `model_dir.TrainedModel` of p(response | context, message, speaker).
        reverse: a `TrainedModel` of p(message | response), or None (no reranking:
            reverse scores are 0).
        config: a `DecodeConfig`.

    Example:
    >>> responder = Responder(load_trained("runs/demo/mtask_m"), None, DecodeConfig())
    >>> responder.generate(tf.constant([""]), tf.constant(["How now?"]),
    ...                    tf.constant(["HAMLET"]))["responses"]
    """

    def __init__(self, forward, reverse, config, name=None):
        super().__init__(name=name)
        _check_vocabularies(forward, reverse)
        self.config = config
        self.max_source_length = forward.experiment.max_source_length
        self.reverse_max_source_length = reverse.experiment.max_source_length if reverse else 0
        self.persona = forward.persona
        self.speaker_names = list(forward.speakers)
        self.tokenizer = forward.tokenizer
        self.speakers = tf.constant(forward.speakers or [""])
        self.speaker_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                self.speakers, tf.range(tf.size(self.speakers), dtype=tf.int32)
            ),
            -1,
        )
        self.forward = generator_lib.Generator(
            forward.models.encoder, forward.models.decoder, search_dtype=config.decode_dtype
        )
        self.reverse = (
            generator_lib.Generator(reverse.models.encoder, reverse.models.decoder)
            if reverse is not None
            else None
        )
        # Keras 3 layers are not tracked by tf.Module; a SavedModel needs every
        # variable its functions read reachable from its root, as the tf.Variable
        # itself (TensorFlow Serving's loader does not initialise a variable that
        # is saved only through its Keras wrapper).
        self.forward_weights = [w.value for w in forward.models.seq2seq.weights]
        self.reverse_weights = [w.value for w in reverse.models.seq2seq.weights] if reverse else []

    def speaker_ids(self, speaker):
        """string [batch] -> int32 [batch]; an unknown name is an InvalidArgument error."""
        ids = self.speaker_table.lookup(speaker)
        if not self.persona:
            return tf.zeros_like(ids)  # Accepted and ignored.
        unknown = tf.boolean_mask(speaker, ids < 0)
        with tf.control_dependencies(
            [
                tf.debugging.Assert(
                    tf.size(unknown) == 0,
                    [
                        "unknown speaker(s):",
                        unknown,
                        "- this model knows",
                        tf.size(self.speakers),
                        "speakers (see its speakers.txt)",
                    ],
                    summarize=10,
                )
            ]
        ):
            return tf.identity(ids)

    def _check_inputs(self, message, *others):
        checks = [
            tf.debugging.assert_equal(
                tf.shape(other), tf.shape(message), message="inputs must have the same batch size"
            )
            for other in others
        ]
        empty = tf.where(tf.strings.length(tf.strings.strip(message)) == 0)[:, 0]
        checks.append(
            tf.debugging.Assert(
                tf.size(empty) == 0, ["empty message at batch index(es):", empty], summarize=10
            )
        )
        return checks

    def source_ids(self, context, message):
        """string [batch] x 2 -> int32 [batch, time]: the encoder's input, padded."""
        source = self.tokenizer.encode_source(context, message, self.max_source_length)
        return source.to_tensor()

    @tf.function(input_signature=[STRING_BATCH] * 3, autograph=False)
    def generate(self, context, message, speaker):
        """Reranked responses. Inputs string [batch]; outputs [batch, n], best first.

        n is at most `config.responses` and at most the number of candidates
        the fullest list of the batch holds; shorter lists end in empty slots
        (length 0, score -inf). When sampling, every input is drawn with
        `config.sampling_seed`.
        """
        seed = tf.fill(tf.shape(message), tf.constant(self.config.sampling_seed, tf.int64))
        return self._generate(context, message, speaker, seed)

    @tf.function(input_signature=[STRING_BATCH] * 3 + [SEED_BATCH], autograph=False)
    def generate_seeded(self, context, message, speaker, seed):
        """`generate` with each input's sampling seed given (int64 [batch]).

        With the seed `config.sampling_seed` an input gets what `generate`
        gives it; the same (input, seed) always gets the same samples,
        whatever else is in the batch. Without sampling the seed is unused.
        """
        return self._generate(context, message, speaker, seed)

    def _generate(self, context, message, speaker, seed):
        with tf.control_dependencies(self._check_inputs(message, context, speaker, seed)):
            speaker_ids = self.speaker_ids(speaker)
            source = self.source_ids(context, message)
        c = self.config
        result = self._candidates(source, speaker_ids, seed)
        ids, lengths, forward_log_prob = _drop_empty_columns(result)
        reverse_log_prob, message_tokens = self._reverse_scores(message, ids, lengths)
        forward, reverse, words = mmi.rerank_features(
            forward_log_prob,
            reverse_log_prob,
            tf.cast(lengths, tf.float32),
            tf.cast(message_tokens, tf.float32)[:, None],
            c.length_penalty,
        )
        scores = forward + c.mmi_lambda * reverse + c.mmi_gamma * words
        scores = tf.where(lengths > 0, scores, -float("inf"))
        order = tf.argsort(scores, axis=1, direction="DESCENDING", stable=True)
        order = order[:, : c.responses]  # None: every candidate
        take = lambda x: tf.gather(x, order, batch_dims=1)
        ids, lengths = take(ids), take(lengths)
        return {
            "responses": self.tokenizer.decode(ids, lengths),
            "scores": take(scores),
            "forward_log_prob": take(forward_log_prob),
            "reverse_log_prob": take(reverse_log_prob),
            "lengths": lengths,
            "ids": ids,
            "message_lengths": message_tokens,
        }

    def _candidates(self, source, speaker_ids, seed):
        """The N-best list to rerank: the beam's, or the distinct samples, best first."""
        c = self.config
        guards = dict(no_repeat_ngram_size=c.no_repeat_ngram_size)
        if not c.num_samples:
            return self.forward.generate(
                source,
                speaker_ids,
                beam_size=c.beam_size,
                max_length=c.max_length,
                nbest=c.candidates,
                **guards,
            )
        result = self.forward.sample(
            source,
            speaker_ids,
            num_samples=c.num_samples,
            max_length=c.max_length,
            seed=_input_seeds(seed, source, speaker_ids),
            options=sampling.SamplingOptions(
                c.sampling_topk, c.sampling_topp, c.sampling_temperature
            ),
            **guards,
        )
        return beam_search_lib.BeamSearchResult(*(x[:, : c.candidates] for x in result))

    def _reverse_scores(self, message, ids, lengths):
        """log p(message | response) for every filled slot, 0 for empty ones: [batch, n].

        Only filled slots are scored, in chunks of rows whose logits stay
        within a fixed budget, so memory does not grow with the list. Also
        returns the message's token count (EOS included) as the reverse model
        scores it: int32 [batch] (1 without a reverse model).
        """
        if self.reverse is None:
            return tf.zeros(tf.shape(lengths), tf.float32), tf.ones(tf.shape(message), tf.int32)
        batch, slots = tf.shape(ids)[0], tf.shape(ids)[1]
        filled = tf.where(tf.reshape(lengths, [-1]) > 0)  # [rows, 1]
        flat_ids = tf.gather_nd(tf.reshape(ids, [batch * slots, -1]), filled)
        words = tf.gather_nd(tf.reshape(tf.maximum(lengths - 1, 0), [-1]), filled)
        source = tf.where(tf.sequence_mask(words, tf.shape(flat_ids)[1]), flat_ids, 0)
        source = source[:, : self.reverse_max_source_length]
        messages = tf.gather(message, filled[:, 0] // tf.cast(slots, tf.int64))
        target_in, target_out = self.tokenizer.encode_target(messages, _WHOLE)
        log_prob, _ = self.reverse.score_in_chunks(
            source,
            tf.zeros(tf.shape(words), tf.int32),
            target_in.to_tensor(),
            target_out.to_tensor(),
        )
        log_prob = tf.where(words > 0, log_prob, 0.0)
        log_prob = tf.reshape(tf.scatter_nd(filled, log_prob, [batch * slots]), [batch, slots])
        _, message_out = self.tokenizer.encode_target(message, _WHOLE)
        return log_prob, tf.cast(message_out.row_lengths(), tf.int32)

    @tf.function(input_signature=[STRING_BATCH] * 4, autograph=False)
    def score(self, context, message, speaker, response):
        """log p(response | context, message, speaker) summed over tokens (EOS included)."""
        with tf.control_dependencies(self._check_inputs(message, context, speaker, response)):
            speaker_ids = self.speaker_ids(speaker)
            source = self.source_ids(context, message)
        target_in, target_out = self.tokenizer.encode_target(response, _WHOLE)
        log_prob, num_tokens = self.forward.score(
            source, speaker_ids, target_in.to_tensor(), target_out.to_tensor()
        )
        return {"log_prob": log_prob, "num_tokens": num_tokens}

    def attention(self, context, message, speaker, response):
        """What the forward model attends to while it reads `response` (teacher-forced).

        string [batch] x 4 -> {"weights": float32 [batch, response_tokens,
        source_tokens], "source": string [batch, source_tokens] (the encoder's
        input, `context </s> message` cut as in `generate`, padded with ""),
        "response": string [batch, response_tokens] (words then </s>, padded
        with "")}. Needs a model trained with --attention=luong.
        """
        speaker_ids = self.speaker_ids(tf.constant(speaker))
        source = self.source_ids(tf.constant(context), tf.constant(message))
        target_in, target_out = self.tokenizer.encode_target(tf.constant(response), _WHOLE)
        target_in, target_out = target_in.to_tensor(), target_out.to_tensor()
        weights = self.forward.attention_weights(source, speaker_ids, target_in)
        word = lambda ids: tf.where(ids != vocabulary.PAD_ID, self.tokenizer.tokens(ids), "")
        return {"weights": weights, "source": word(source), "response": word(target_out)}

    @tf.function(input_signature=[STRING_BATCH] * 2, autograph=False)
    def reverse_score(self, message, response):
        """log p(message | response) summed over tokens (EOS included), with the reverse model."""
        checks = self._check_inputs(message, response)
        if self.reverse is None:
            checks.append(
                tf.debugging.Assert(
                    False, ["reverse_score needs a reverse model; give --reverse_model_dir"]
                )
            )
            with tf.control_dependencies(checks):
                zeros = tf.zeros(tf.shape(message), tf.float32)
            return {"log_prob": zeros, "num_tokens": tf.zeros(tf.shape(message), tf.int32)}
        with tf.control_dependencies(checks):
            source = self.tokenizer.encode(response)[:, -self.reverse_max_source_length :]
        target_in, target_out = self.tokenizer.encode_target(message, _WHOLE)
        log_prob, num_tokens = self.reverse.score(
            source.to_tensor(),
            tf.zeros(tf.shape(message), tf.int32),
            target_in.to_tensor(),
            target_out.to_tensor(),
        )
        return {"log_prob": log_prob, "num_tokens": num_tokens}


def _input_seeds(seed, source, speaker_ids):
    """int64 [batch]: each input's sampling seed, a hash of its seed and what the model reads.

    Two inputs of one batch do not share random numbers, and an input gets
    the same samples whatever batch it comes in.
    """
    text = tf.strings.join(
        [
            tf.strings.as_string(seed),
            tf.strings.as_string(speaker_ids),
            # The tokens without padding: the batch's longest input does not matter.
            tf.strings.reduce_join(
                tf.where(source != vocabulary.PAD_ID, tf.strings.as_string(source) + " ", ""),
                axis=1,
            ),
        ],
        separator=":",
    )
    return tf.strings.to_hash_bucket_fast(text, 1 << 62)


def _drop_empty_columns(result):
    """The N-best list cut after the fullest row's last filled slot.

    Slots are sorted by score, empty ones (-inf) last, so the cut loses no
    candidate; reranking and reverse scoring then skip the buffer's empty tail.
    """
    filled = tf.reduce_sum(tf.cast(result.lengths > 0, tf.int32), axis=1)
    keep = tf.maximum(tf.reduce_max(tf.concat([filled, [0]], axis=0)), 1)
    return result.ids[:, :keep], result.lengths[:, :keep], result.scores[:, :keep]


def _check_vocabularies(forward, reverse):
    if forward.reverse:
        raise model_dir_lib.ModelDirError(
            f"{forward.model_dir} holds a reverse model; give a forward model as --model_dir"
        )
    if reverse is None:
        return
    if not reverse.reverse:
        raise model_dir_lib.ModelDirError(
            f"{reverse.model_dir} is not a reverse model (train it with configs/reverse.flags)"
        )
    if vocabulary.load_vocabulary(forward.tokenizer.vocabulary_path) != vocabulary.load_vocabulary(
        reverse.tokenizer.vocabulary_path
    ):
        raise model_dir_lib.ModelDirError(
            f"{forward.model_dir} and {reverse.model_dir} have different vocabularies; "
            "train the reverse model on the same data directory with the same --vocab_size"
        )


def load(model_dir, reverse_model_dir, config):
    """A `Responder` from trained model directories and a `DecodeConfig`.

    Raises:
        model_dir.ModelDirError, ValueError: unusable inputs; the message says
            which and why.
    """
    forward = model_dir_lib.load_trained(model_dir)
    reverse = (
        model_dir_lib.load_trained(reverse_model_dir, name_prefix=REVERSE_PREFIX)
        if reverse_model_dir
        else None
    )
    return Responder(forward, reverse, config)
