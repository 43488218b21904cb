"""How idle OpenMP threads wait: spin briefly, then sleep.

scikit-learn's Linux wheels ship libgomp, whose threads spin 300,000 times by default before they sleep
between parallel regions. Whenever anything else is runnable on the cores (another task, the S3 server, a
model server, a neighbour pod) the spinning threads take the cores from the working ones. Measured on
2 cores, the demo's final fit with two threads: 18.7 s beside one busy process with the default against
9.3 s with 1,000 spins and 8.4 s never spinning (``OMP_WAIT_POLICY=PASSIVE``); alone 5.0, 5.3 and 6.3 s.
1,000 spins keep nearly all of the quiet speed and nearly all of the loaded one.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

SPIN_VARIABLE = "GOMP_SPINCOUNT"
SPINS = "1000"


def limit_spinning(environ: MutableMapping[str, str] | None = None) -> None:
    """Sets the spin count in an environment (the process's by default) unless it is set already.

    It must be set before OpenMP starts in the process (scikit-learn's first import), and processes started
    afterwards inherit it.
    """
    target = os.environ if environ is None else environ
    target.setdefault(SPIN_VARIABLE, SPINS)
