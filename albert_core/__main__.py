"""`python -m albert_core ...` runs the `albert` command."""

import sys

from .cli import main

sys.exit(main())
