"""The one exception type for user mistakes.

Anything the user can fix (a bad study file, an unknown config field, a missing dataset
folder, a storage URL that cannot be opened) raises :class:`TunerError` with a single line
that names the file or field, the value, and what was expected. The CLI turns it into that
line on stderr and exit code 2; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TunerError(ValueError):
    """A user-facing error: the message is one line, printed as is, exit code 2."""


class TrialsFailed(Exception):
    """A mistake found only while trials ran (a file gone mid-run): its one line has been
    printed; the command ends with exit code 1 (exit 2 promises that nothing ran)."""
