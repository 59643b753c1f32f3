"""The judges of a task and their secret links: the judges file, written by `serve --judges`.

    {"judges": {"ann": "Xq3...", "bob": "k9V..."}}       (TASK.judges.json, mode 0600)

Each judge has a random token; their link is `http://HOST:PORT/#token=TOKEN`.
The token follows `#`, so browsers never send it in a Referer or to a proxy's
log; the judging page sends it with every call as `Authorization: Bearer TOKEN`,
and the server answers only calls whose token is a judge's, about that judge.
Naming a judge again keeps their link; the file is the organiser's record of
who has which link.
"""

import hashlib
import json
import os
import pathlib
import secrets

from mtask_tf.errors import UserError
from mtask_tf.human_eval import answers as answers_lib


class JudgesError(UserError):
    """A judges file that cannot be used; the message names it."""


def read_judges(path):
    """{judge: token} from the judges file ({} if it does not exist)."""
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    try:
        judges = json.loads(path.read_bytes().decode("utf-8"))["judges"]
        if not isinstance(judges, dict):
            raise TypeError("'judges' is not an object")
        for judge, token in judges.items():
            answers_lib.check_judge(judge)
            if not isinstance(token, str) or len(token) < 16:
                raise TypeError(f"the token of {judge!r} is not a string of 16+ characters")
    except OSError as e:
        raise JudgesError(f"{path}: cannot read the judges file ({e.strerror})") from None
    except (ValueError, TypeError, KeyError) as e:
        raise JudgesError(f"{path}: not a judges file ({e})") from None
    return judges


def add_judges(path, names):
    """Gives each judge in `names` without a link one, writes the file; returns {judge: token}."""
    path = pathlib.Path(path)
    judges = read_judges(path)
    new = [answers_lib.check_judge(name) for name in names if name.strip() not in judges]
    if not new:
        return judges
    judges.update((name, secrets.token_urlsafe(24)) for name in new)
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"judges": judges}, f, indent=1)
            f.write("\n")
        os.replace(temporary, path)
    except OSError as e:
        raise JudgesError(f"{path}: cannot write the judges file ({e.strerror})") from None
    return judges


def link(base_url, token):
    return f"{base_url.rstrip('/')}/#token={token}"


class Tokens:
    """Finds the judge of a token; compares digests, so lookups do not leak the tokens."""

    def __init__(self, judges):
        self._judges = {_digest(token): judge for judge, token in judges.items()}

    def judge(self, token):
        return self._judges.get(_digest(token)) if token else None

    def __len__(self):
        return len(self._judges)


def _digest(token):
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
