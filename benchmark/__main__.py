"""``python -m benchmark``: the command line (see ``benchmark.cli``)."""
import sys

from benchmark.cli import main

sys.exit(main())
