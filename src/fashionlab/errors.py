"""The one exception type for mistakes a user can make.

The CLI prints ``error: <message>`` for it and exits with status 2, without a
traceback. Every message says what was wrong and what to do about it.
"""


class FashionlabError(Exception):
    """A user-facing error: bad input, missing data, a run folder that does not fit."""
