"""A TorchServe handler for an sklearn model (joblib), used by test/runtimes/torchserve.test.ts.

A module-level `handle(data, context)` is TorchServe's simplest custom handler. Under the KServe V2 envelope
(`TS_SERVICE_ENVELOPE=kservev2`) `data` is the request's list of V2 inputs, and the handler returns one
output per input; under the V1 envelope (`kserve`) `data` is the list of `instances`.
"""
import os

import joblib
import numpy as np

_model = None


def handle(data, context):
    global _model
    if _model is None:
        _model = joblib.load(os.path.join(context.system_properties["model_dir"], "model.joblib"))
    if data is None:
        return None
    rows = np.asarray(data[0]["data"], dtype=np.float64)  # the first V2 input, already in its shape
    return [_model.predict(rows).astype(np.int64).tolist()]
