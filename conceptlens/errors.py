"""The base class of every error about a user's input.

An :class:`InputError` says that a config key, a file, a folder or a weight the user gave
is bad or missing; its message (one line per problem) names it, says what is wrong and
what to do.  Rule scripts report one as those lines alone, without a traceback
(:func:`conceptlens.workflow.rule_context`); any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations


class InputError(Exception):
    """A user's input is bad or missing; the message names it and what to do."""
