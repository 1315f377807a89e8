"""`python -m polyasr ...`, also what `accelerate launch -m polyasr train ...` and `torchrun -m polyasr` run."""

import sys

from .cli.main import main

sys.exit(main())
