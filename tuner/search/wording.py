"""Numbers in the reason a pruned trial stores: as many decimals as the comparison the
reason states needs to read true.

Three decimals are the rule, but a trial stopped at a best Dice of 0.45812 below a floor
of 0.45847 read "best val Dice so far 0.458 < floor 0.458", a contradiction in the one
line meant to explain the stop; with four decimals it reads "0.4581 < floor 0.4585".
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

#: decimals that tell any two doubles between 0 and 1 apart
MOST = 17


def decimals_below(terms: Sequence[float], limit: float, shown_as_is: str = "0",
                   fewest: int = 3) -> int:
    """The fewest decimals (at least ``fewest``) at which ``terms``, each shown with that
    many, plus ``shown_as_is`` (a number already written out, such as a margin) add up
    to less than ``limit`` shown with as many (:data:`MOST` where none does)."""
    for places in range(fewest, MOST):
        total = sum((Decimal(f"{term:.{places}f}") for term in terms), Decimal(shown_as_is))
        if total < Decimal(f"{limit:.{places}f}"):
            return places
    return MOST
