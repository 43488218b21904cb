"""Hypothesis settings for the property tests of the platform's invariants.

The suite runs in ``make test`` on a 2-core machine, so the default profile bounds the examples per test and
derandomizes the search: a CI run is reproducible, and a failure names the falsifying example in its output.
``HYPOTHESIS_PROFILE=explore`` searches longer and with fresh randomness when hunting for new bugs by hand.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", max_examples=2000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
