"""The one base class of errors meant for the person running a command.

Bad input (a malformed file, an unknown speaker, a model directory that does
not fit the request, ...) raises a subclass of `UserError` whose message names
the file and line or the field and the problem. The command-line programs
print it as one line, `error: <message>`, with exit status 1; any other
exception is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """A problem with what the user gave, explained by the message."""
