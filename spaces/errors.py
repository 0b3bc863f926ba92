"""Errors that mean "the user asked for something that cannot be"."""


class UserError(ValueError):
    """A mistake in the user's input: reported as one line, never as a traceback."""


class SpaceError(UserError):
    """A search space that cannot be sampled or built."""
