"""Readable responses: the tokenizer's lower-cased words written as people write text.

`tokenizer.normalize` lower-cases text and makes every character that is not
a letter, a digit, white space or an apostrophe a token of its own, so
"My lord, I pray you--" is generated as "my lord , i pray you , - -" and
"don't" stays one token (a curly apostrophe is split off: "don ’ t"). The
detokenizer undoes what it can. Between two tokens the space goes when:

* the right token is closing punctuation `. , ! ? ; : ) ] } % …` or a lone
  apostrophe (`'`, `’`), or the left one is opening `( [ { ¿ ¡ $ £ €`;
* the left token is an opening quote or the right one a closing quote: `“`
  and `‘` open, `”` closes, and straight `"` alternate (the first opens);
* the right token is a contraction split off by spaced-out source text
  (`'s`, `n't`, ...) and the left one a word, or a lone apostrophe stands
  between a word and `s t m d ll re ve` ("don ’ t" -> "don’t");
* a hyphen stands between two words ("well - known" -> "well-known"), or
  hyphens follow each other ("- -" -> "--", a dash, attached to the word
  before it);
* `. , :` stands between two numbers ("3 . 5" -> "3.5").

A word (a token with a letter or digit) is capitalised when it is "i" (or
"i'm", "i'll", "i'd", "i've") or the first word of a sentence: of the text, of
a quotation, or after `. ! ?`. A "." next to another "." is an ellipsis and
does not end a sentence, nor does one between numbers, nor `. ! ?` before a
closing quote ('"Stop!" he said'). Capitalising upper-cases the first letter
after any leading apostrophes ("'tis" -> "'Tis"); a word that starts otherwise
("<unk>", "2nd") is left alone. Since only spaces go and case changes, the
tokenizer reads the readable text back as the same tokens, except where a
straight apostrophe joins two ("it 's" -> "it's", one token).

There are two implementations of these rules, which tests hold to the same
outputs: `detokenize` in plain Python for command lines, pages and reports
(which do not load TensorFlow), and `detokenize_tf` in core TensorFlow
string ops, which the exported SavedModel runs under the stock TensorFlow
Serving binary (no tensorflow-text ops, no py_function).
"""

import re
import unicodedata

CLOSERS = ".,!?;:)]}%…'’"
OPENERS = "([{¿¡$£€"
OPEN_QUOTES = "“‘"
CLOSE_QUOTES = "”"
QUOTE = '"'
APOSTROPHES = "'’"
SENTENCE_ENDS = ".!?"
NUMBER_MARKS = ".,:"
# Contractions as separate tokens, which spaced-out source text ("it 's") gives.
CLITICS = ("'s", "'t", "'m", "'d", "'ll", "'re", "'ve", "n't")
# What may follow a lone apostrophe in a contraction ("don ’ t", "it ' s").
CLITIC_ENDS = ("s", "t", "m", "d", "ll", "re", "ve")
I_WORDS = ("i", "i'm", "i'll", "i'd", "i've")
# Token separators: the ASCII white space TensorFlow's string split uses.
_SPACE = " \t\n\r\v\f"


# Plain Python ---------------------------------------------------------------


def _one(token, characters):
    """Whether `token` is one of `characters` (not a substring of them)."""
    return len(token) == 1 and token in characters


def _is_word(token):
    return any(unicodedata.category(c)[0] in "LN" for c in token)


def _is_number(token):
    return token.isascii() and token.isdigit()


def _joins(a2, a, b, b2, a_opens, b_closes):
    """Whether the space between tokens a and b goes; a2 precedes a, b2 follows b."""
    return (
        _one(b, CLOSERS)
        or _one(a, OPENERS)
        or a_opens
        or b_closes
        or (b in CLITICS and _is_word(a))
        or (_one(a, APOSTROPHES) and b in CLITIC_ENDS and _is_word(a2))
        or (b == "-" and (b2 == "-" or a == "-" or (_is_word(a) and _is_word(b2))))
        or (a == "-" and _is_word(a2) and _is_word(b))
        or (_one(a, NUMBER_MARKS) and _is_number(a2) and _is_number(b))
    )


def _starts_sentence_after(before, token, after, after_closes, opens):
    """Whether the first word after `token` starts a sentence; `before`, `after`: neighbours."""
    if opens:
        return True
    if after_closes or not _one(token, SENTENCE_ENDS):
        return False  # '"Stop!" he said': the quotation ends, the sentence goes on.
    if token != ".":
        return True
    return "." not in (before, after) and not (_is_number(before) and _is_number(after))


def _quote_sides(tokens):
    """Which tokens open and which close a quotation: two lists of bools."""
    opens, closes, straight = [], [], 0
    for token in tokens:
        opens.append(_one(token, OPEN_QUOTES) or (token == QUOTE and straight % 2 == 0))
        closes.append(_one(token, CLOSE_QUOTES) or (token == QUOTE and straight % 2 == 1))
        straight += token == QUOTE
    return opens, closes


def _capitalised(token):
    start = len(token) - len(token.lstrip("'"))
    if start == len(token) or unicodedata.category(token[start])[0] != "L":
        return token
    return token[:start] + token[start].upper() + token[start + 1 :]


def detokenize(text):
    """Readable text from space-separated tokens, by the rules in the module docstring.

    Example:
    >>> detokenize("my lord , i pray you , - - 'tis true . i ’ m sure")
    "My lord, I pray you,-- 'tis true. I’m sure"
    """
    text = text.strip(_SPACE)
    tokens = re.split(f"[{_SPACE}]+", text) if text else []
    at = lambda k: tokens[k] if 0 <= k < len(tokens) else ""
    opens, closes = _quote_sides(tokens)
    pieces, sentence_start = [], True
    for k, token in enumerate(tokens):
        if k and not _joins(at(k - 2), at(k - 1), token, at(k + 1), opens[k - 1], closes[k]):
            pieces.append(" ")
        word = _is_word(token)
        capital = word and (sentence_start or token in I_WORDS)
        pieces.append(_capitalised(token) if capital else token)
        after_closes = k + 1 < len(tokens) and closes[k + 1]
        sentence_start = (sentence_start and not word) or _starts_sentence_after(
            at(k - 1), token, at(k + 1), after_closes, opens[k]
        )
    return "".join(pieces)


# TensorFlow -------------------------------------------------------------------
# The same rules over a [texts, tokens] matrix of tokens padded with "", which
# no token class matches. TensorFlow is imported inside the functions so that
# the pages and reports that only need `detokenize` do not load it.


def _one_of(characters):
    """An RE2 pattern matching one of `characters`."""
    return "[" + "".join("\\" + c if c in "\\]^-[" else c for c in characters) + "]"


def _any_of(tokens):
    return "|".join(re.escape(t) for t in tokens)


_WORD = r".*[\pL\pN].*"
_NUMBER = "[0-9]+"
_CAPITALISABLE = r"'*\pL.*"


def _shift(values, by):
    """values[:, k - by] at column k ("" or False outside the row): [texts, tokens]."""
    import tensorflow as tf

    length = tf.shape(values)[1]
    pad = tf.zeros([tf.shape(values)[0], abs(by)], values.dtype)
    if by > 0:
        return tf.concat([pad, values], axis=1)[:, :length]
    return tf.concat([values, pad], axis=1)[:, -by:]


def _tf_joins(tokens, is_word, is_number, opens, closes):
    """Whether the space before each token goes: bool [texts, tokens]."""
    import tensorflow as tf

    match = tf.strings.regex_full_match
    a, b2 = _shift(tokens, 1), _shift(tokens, -1)
    word_a2, word_a, word_b2 = _shift(is_word, 2), _shift(is_word, 1), _shift(is_word, -1)
    hyphen_a, hyphen_b = tf.equal(a, "-"), tf.equal(tokens, "-")
    return (
        match(tokens, _one_of(CLOSERS))
        | match(a, _one_of(OPENERS))
        | _shift(opens, 1)
        | closes
        | (match(tokens, _any_of(CLITICS)) & word_a)
        | (match(a, _one_of(APOSTROPHES)) & match(tokens, _any_of(CLITIC_ENDS)) & word_a2)
        | (hyphen_b & (tf.equal(b2, "-") | hyphen_a | (word_a & word_b2)))
        | (hyphen_a & word_a2 & is_word)
        | (match(a, _one_of(NUMBER_MARKS)) & _shift(is_number, 2) & is_number)
    )


def _tf_sentence_starts(tokens, is_word, is_number, opens, closes):
    """Whether each token is the first word of its sentence: bool [texts, tokens]."""
    import tensorflow as tf

    before, after = _shift(tokens, 1), _shift(tokens, -1)
    ellipsis_or_number = (
        tf.equal(before, ".")
        | tf.equal(after, ".")
        | (_shift(is_number, 1) & _shift(is_number, -1))
    )
    ends = tf.strings.regex_full_match(tokens, _one_of(SENTENCE_ENDS)) & ~(
        tf.equal(tokens, ".") & ellipsis_or_number
    )
    breaks = (ends & ~_shift(closes, -1)) | opens
    sentence = tf.cumsum(tf.cast(breaks, tf.int32), axis=1, exclusive=True)
    words = tf.cast(is_word, tf.int32)
    # A word starts its sentence when the words before it are exactly the
    # words of the sentences before its own.
    texts, width = tf.shape(tokens)[0], tf.shape(tokens)[1] + 1
    row = tf.range(texts)[:, None] * width
    per_sentence = tf.math.unsorted_segment_sum(words, sentence + row, texts * width)
    before_sentence = tf.cumsum(tf.reshape(per_sentence, [texts, width]), axis=1, exclusive=True)
    words_before = tf.cumsum(words, axis=1, exclusive=True)
    return is_word & tf.equal(words_before, tf.gather(before_sentence, sentence, batch_dims=1))


def _tf_capitalised(tokens):
    """Tokens with the first letter after leading apostrophes upper-cased."""
    import tensorflow as tf

    head = tf.strings.regex_replace(tokens, r"^('*\pL).*$", r"\1")
    tail = tf.strings.regex_replace(tokens, r"^'*\pL", "", replace_global=False)
    capitalised = tf.strings.upper(head, encoding="utf-8") + tail
    return tf.where(tf.strings.regex_full_match(tokens, _CAPITALISABLE), capitalised, tokens)


def detokenize_tf(texts):
    """`detokenize` in core TensorFlow ops: string [...] -> string [...].

    Example:
    >>> detokenize_tf(tf.constant([['he said : " no ! "', "it ' s 3 . 5 %"]])).numpy()
    array([[b'He said: "No!"', b"It's 3.5%"]], dtype=object)
    """
    import tensorflow as tf

    texts = tf.convert_to_tensor(texts, tf.string)
    tokens = tf.strings.split(tf.reshape(texts, [-1])).to_tensor(default_value="")
    is_word = tf.strings.regex_full_match(tokens, _WORD)
    is_number = tf.strings.regex_full_match(tokens, _NUMBER)
    quote = tf.equal(tokens, QUOTE)
    quotes_before = tf.cumsum(tf.cast(quote, tf.int32), axis=1, exclusive=True)
    opens = tf.strings.regex_full_match(tokens, _one_of(OPEN_QUOTES)) | (
        quote & tf.equal(quotes_before % 2, 0)
    )
    closes = tf.strings.regex_full_match(tokens, _one_of(CLOSE_QUOTES)) | (
        quote & tf.equal(quotes_before % 2, 1)
    )
    joins = _tf_joins(tokens, is_word, is_number, opens, closes)
    first = tf.equal(tf.range(tf.shape(tokens)[1]), 0)[None, :]
    space = ~joins & ~first & tf.not_equal(tokens, "")
    starts = _tf_sentence_starts(tokens, is_word, is_number, opens, closes)
    capitalise = starts | tf.strings.regex_full_match(tokens, _any_of(I_WORDS))
    shown = tf.where(capitalise, _tf_capitalised(tokens), tokens)
    joined = tf.strings.reduce_join(tf.where(space, " ", "") + shown, axis=1)
    return tf.reshape(joined, tf.shape(texts))
