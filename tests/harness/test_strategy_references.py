"""Every registered strategy's docstring says where it comes from: a paper (authors, venue or
arXiv, year) or, for the plain baseline, that it has none. The README says each strategy
cites its paper; this keeps that true as strategies are added."""

from __future__ import annotations

import re
import sys

import pytest

from harness import strategies

#: "(Author et al., VENUE 2017)", "arXiv:1711.09846, 2017", "JRSS B 1974": a name and a year
CITATION = re.compile(r"[A-Z][a-z]+(?: et al\.| & [A-Z][a-z]+)?,[^()]*?\b(19|20)\d\d\b")


@pytest.mark.parametrize("name", strategies.names())
def test_each_strategy_cites_its_paper(name: str) -> None:
    doc = sys.modules[strategies.get(name).build.__module__].__doc__ or ""
    text = " ".join(doc.split())
    assert CITATION.search(text) or "no reference" in text, f"{name}: no paper cited in {doc[:80]!r}"
