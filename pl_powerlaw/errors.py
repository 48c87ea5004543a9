"""The one exception type for bad input, so that the command line can tell it from a bug.

Anything a user can get wrong (a config, a data folder, a checkpoint, a schedule that does not fit
the trainer) raises :class:`InputError` (a ``ValueError``) with a one-line message that names the
offending value and what was expected. ``python -m pl_powerlaw`` prints such an error as one line
and exits with code 2; any other exception is a bug and keeps its traceback. Set
``PL_POWERLAW_DEBUG=1`` to see the traceback of an input error too.
"""

from __future__ import annotations

DEBUG_ENV = "PL_POWERLAW_DEBUG"


class InputError(ValueError):
    """Bad input (config, data, checkpoint, schedule): a one-line message, exit code 2."""
