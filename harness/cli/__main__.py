"""`python -m harness.cli`: the `crossreg` command."""

import sys

from harness.cli.commands import main

sys.exit(main())
