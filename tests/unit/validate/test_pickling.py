"""Loading the validation stage (and so TFDV) must not change how models are pickled."""

import subprocess
import sys

PROGRAM = """
import io
import components.validate.logic  # loads TFDV, and with it dill
import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier

model = RandomForestClassifier(n_estimators=2, random_state=0).fit(np.random.rand(40, 3), np.arange(40) % 2)
buffer = io.BytesIO()
joblib.dump(model, buffer)
print("dill" if b"dill" in buffer.getvalue() else "clean")
"""


def test_a_model_saved_after_tfdv_loaded_does_not_need_dill_to_load():
    # A fresh process: the import order is what is under test.
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": ""}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "clean"
