"""``l1``: the L1 norm of every Linear weight matrix, one rho per matrix: the lasso in
level-set form, kept on the L1 sphere by projection (`trainables.regularizers.linear_norm_family`)."""

from __future__ import annotations

from ..regularizers import linear_norm_family

FAMILY = linear_norm_family(
    "l1", "the L1 norm of every Linear weight (lasso in level-set form, the L1-sphere projection)")
