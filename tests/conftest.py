"""Settings for the whole test suite.

The suite runs in two pytest-xdist processes on a two-core machine. Torch's default of one
intra-op thread per core in each of them oversubscribes the cores: the family tests took
50 CPU-seconds with two threads and 32 with one, in the same wall time. One thread per test
process (and per driver it starts) is what Ray gives each one-CPU trial anyway, so this
changes where the time goes, not what is computed.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
if "torch" in sys.modules:  # imported before this file (a plugin): set it directly
    sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
