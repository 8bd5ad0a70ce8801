"""`python -m ftbench list | eval ...` (see ftbench/cli.py)."""
import sys

from ftbench.cli import main

sys.exit(main())
