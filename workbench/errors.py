"""Errors the user can fix (exit 1) as opposed to bugs (exit 2).

Every command catches :class:`UserError` at the top and prints its message as one
line on stderr, so messages must name the file, entry or field at fault.
"""


class UserError(Exception):
    """Bad input the user can correct: wrong option, malformed file, missing path."""
