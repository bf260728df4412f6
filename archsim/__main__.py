"""``python -m archsim`` is the ``archsim`` command."""

import sys

from archsim.cli import main

sys.exit(main())
