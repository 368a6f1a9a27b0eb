"""`python -m wengert.server [flags]` is `wengert serve [flags]`."""

import sys

from wengert.server.cli import main

sys.exit(main(["serve", *sys.argv[1:]]))
