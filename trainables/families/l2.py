"""``l2``: the L2 norm of every Linear weight matrix, one rho per matrix: ridge in the
level-set form w = rho v/|v| (`trainables.regularizers.linear_norm_family`)."""

from __future__ import annotations

from ..regularizers import linear_norm_family

FAMILY = linear_norm_family(
    "l2", "the L2 norm of every Linear weight (ridge in level-set form: w = rho v/|v|)")
