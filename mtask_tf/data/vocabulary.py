"""The word vocabulary: special tokens, building from text, the vocabulary file."""

import pathlib

from mtask_tf import errors

SPECIAL_TOKENS = ("<pad>", "<unk>", "<s>", "</s>")
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(len(SPECIAL_TOKENS))


class VocabularyError(errors.UserError):
    """A vocabulary file that cannot be used; the message says which and why."""


def build_vocabulary(counts, max_size, min_count=1):
    """The special tokens, then the most frequent words (ties broken alphabetically).

    Args:
        counts: mapping word -> count.
        max_size: size of the vocabulary, special tokens included.
        min_count: words seen fewer times are left out (they become `<unk>`).
    """
    if max_size <= len(SPECIAL_TOKENS):
        raise VocabularyError(
            f"vocabulary size {max_size} leaves no room for words: it must be larger "
            f"than the {len(SPECIAL_TOKENS)} special tokens"
        )
    words = sorted(
        (w for w, c in counts.items() if c >= min_count and w not in SPECIAL_TOKENS),
        key=lambda w: (-counts[w], w),
    )
    return list(SPECIAL_TOKENS) + words[: max_size - len(SPECIAL_TOKENS)]


def save_vocabulary(path, tokens):
    pathlib.Path(path).write_text("".join(t + "\n" for t in tokens), encoding="utf-8")


def load_vocabulary(path):
    """Reads and checks a vocabulary file; returns its tokens in id order."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise VocabularyError(f"{path}: vocabulary file not found")
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if tuple(lines[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
        raise VocabularyError(
            f"{path}:1: a vocabulary must start with the special tokens "
            f"{', '.join(SPECIAL_TOKENS)} (one per line)"
        )
    seen = {}
    for number, token in enumerate(lines, start=1):
        if not token or any(ch.isspace() for ch in token):
            raise VocabularyError(f"{path}:{number}: empty token or token with white space")
        if token in seen:
            raise VocabularyError(f"{path}:{number}: token {token!r} repeats line {seen[token]}")
        seen[token] = number
    return lines


def coverage(counts, tokens):
    """Fraction of running words that the vocabulary covers (the rest become <unk>)."""
    known = set(tokens)
    total = sum(counts.values())
    covered = sum(c for w, c in counts.items() if w in known)
    return covered / max(total, 1)
