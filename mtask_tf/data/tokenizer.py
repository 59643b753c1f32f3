"""Word-level tokenization written once in TensorFlow ops.

The same `Tokenizer` object feeds the tf.data input pipeline at training time
and is tracked by the exported SavedModel, so text is split the same way in
training, decoding and serving. Only core TensorFlow ops are used: the stock
TensorFlow Serving binary runs them, and so does `saved_model_cli run`, which
cannot load tensorflow-text's custom ops (NormalizeUTF8 and friends).
"""

import collections

import tensorflow as tf

from mtask_tf.data import vocabulary

# Everything that is not a letter, a digit, white space or an apostrophe is a
# token of its own; apostrophes stay inside words ("don't", "'tis").
_PUNCTUATION = r"([^\pL\pN\s'])"


def normalize(texts):
    """Lower-cases (Unicode-aware) and splits off punctuation. [batch] -> [batch]."""
    texts = tf.strings.lower(texts, encoding="utf-8")
    return tf.strings.regex_replace(texts, _PUNCTUATION, r" \1 ")


def split_words(texts):
    """Splits strings into normalised words. [batch] -> ragged [batch, (words)]."""
    return tf.strings.split(normalize(texts))


def count_words(texts, batch_size=65536):
    """Counts the words of an iterable of strings as `split_words` splits them.

    Each distinct text is split once and its words count as often as the text
    occurs (a conversation's turn is a context, a message and a response), and
    each batch's words are counted in TensorFlow, so Python sees each distinct
    word once a batch: seconds for the millions of texts of a 1M-triple corpus.
    """
    occurrences = collections.Counter(texts)
    distinct, weights = list(occurrences), list(occurrences.values())
    counts = collections.Counter()
    for start in range(0, len(distinct), batch_size):
        words = split_words(tf.constant(distinct[start : start + batch_size]))
        weight = tf.constant(weights[start : start + batch_size], tf.int64)
        unique, index = tf.unique(words.flat_values, out_idx=tf.int64)
        count = tf.math.unsorted_segment_sum(
            tf.gather(weight, words.value_rowids()), index, tf.size(unique, out_type=tf.int64)
        )
        for word, n in zip(unique.numpy().tolist(), count.numpy().tolist()):
            counts[word] += n
    return collections.Counter({word.decode("utf-8"): n for word, n in counts.items()})


def split_texts(texts):
    """Texts as space-joined tokens, the form of the generated responses.

    Lower-cased with punctuation split off (`split_words`, the
    normalisation the model's tokenizer applies before the vocabulary lookup),
    but words stay words: nothing becomes `<unk>`.

    Args:
        texts: list of raw strings (references, monologue lines).
    """
    if not texts:  # tf.constant([]) would be float32, not a string tensor.
        return []
    words = split_words(tf.constant(list(texts), dtype=tf.string))
    return [" ".join(w.decode("utf-8") for w in row) for row in words.to_list()]


def join_source(context_ids, message_ids, max_length):
    """The paper's encoder input `context EOS message`, keeping its last tokens.

    ragged int32 [batch, (words)] twice -> ragged int32 [batch, (<= max_length)].
    """
    eos = tf.fill([context_ids.nrows(), 1], vocabulary.EOS_ID)
    return tf.concat([context_ids, eos, message_ids], axis=1)[:, -max_length:]


def target_pair(ids, max_length):
    """Decoder input `BOS w1..wn` and output `w1..wn EOS`, at most max_length each.

    ragged int32 [batch, (words)] -> two ragged int32 [batch, (<= max_length)].
    """
    ids = ids[:, : max_length - 1]
    batch = ids.nrows()
    bos = tf.fill([batch, 1], vocabulary.BOS_ID)
    eos = tf.fill([batch, 1], vocabulary.EOS_ID)
    return tf.concat([bos, ids], axis=1), tf.concat([ids, eos], axis=1)


class Tokenizer(tf.Module):
    """Maps text to word ids and back with lookup tables read from a vocabulary file.

    The vocabulary file has one token per line; the line number is the id and the
    first lines are `vocabulary.SPECIAL_TOKENS`. Words outside the vocabulary map
    to `<unk>`. When a module holding this tokenizer is saved, the vocabulary file
    travels with the SavedModel as an asset.

    Args:
        vocabulary_path: path of the vocabulary file.

    Example:
    >>> tokenizer = Tokenizer("runs/demo/vocab.txt")
    >>> ids = tokenizer.encode(tf.constant(["Good morrow, sir!"]))
    >>> tokenizer.decode(ids.to_tensor())
    """

    def __init__(self, vocabulary_path, name=None):
        super().__init__(name=name)
        self.vocabulary_path = str(vocabulary_path)
        tokens = vocabulary.load_vocabulary(self.vocabulary_path)
        self.vocabulary_size = len(tokens)
        self._word_to_id = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocabulary_path,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
            ),
            default_value=vocabulary.UNK_ID,
        )
        self._id_to_word = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocabulary_path,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value=vocabulary.SPECIAL_TOKENS[vocabulary.UNK_ID],
        )

    def encode(self, texts):
        """Text to ids, without BOS/EOS. string [batch] -> ragged int32 [batch, (words)]."""
        words = split_words(texts)
        return tf.cast(self._word_to_id.lookup(words), tf.int32)

    def encode_source(self, contexts, messages, max_length):
        """`join_source` of the texts. string [batch] twice -> ragged int32 [batch, (words)]."""
        return join_source(self.encode(contexts), self.encode(messages), max_length)

    def encode_target(self, texts, max_length):
        """`target_pair` of the texts: (target_in, target_out), ragged int32 [batch, (words)]."""
        return target_pair(self.encode(texts), max_length)

    def tokens(self, ids):
        """Each id's vocabulary entry: int [...] -> string [...] (special tokens included)."""
        return self._id_to_word.lookup(tf.cast(ids, tf.int64))

    def decode(self, ids, lengths=None):
        """Ids to space-joined words, stopping at EOS and skipping PAD/BOS.

        int [..., time] -> string [...]. `lengths` ([...]), when given, caps the
        number of tokens read.
        """
        ids = tf.cast(ids, tf.int64)
        keep = (
            tf.math.cumsum(tf.cast(ids == vocabulary.EOS_ID, tf.int32), axis=-1, exclusive=True)
            == 0
        )
        keep &= (ids != vocabulary.EOS_ID) & (ids != vocabulary.PAD_ID) & (ids != vocabulary.BOS_ID)
        if lengths is not None:
            keep &= tf.sequence_mask(lengths, tf.shape(ids)[-1])
        words = self._id_to_word.lookup(ids)
        joined = tf.strings.reduce_join(tf.where(keep, words + " ", ""), axis=-1)
        return tf.strings.strip(joined)
