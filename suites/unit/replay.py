"""The global model a run should end with, recomputed with the reference
from what its results.json says happened: which devices' updates went into
each round (rounds[].devices_used). A run whose faults were handled right
(dropped devices, late or rejected updates left out) matches it bit for bit."""
from __future__ import annotations

from typing import Any, Sequence

import tifed_models
from tifed.plan import RunPlan


def replay(plan: RunPlan, rounds: Sequence[dict[str, Any]]) -> tifed_models.Model:
    c = plan.training
    g = tifed_models.Model.zeros(plan.dims)
    feedback = tifed_models.feedback_matrices(plan.dims, c.seed)
    for entry in rounds:
        part = plan.schedule[entry["round"] - 1].samples(c.buffer_len)
        used = entry["devices_used"]
        models = []
        for i in used:
            x, y = plan.shards[i]
            layer = -1 if plan.layers[i] is None else plan.layers[i]
            t = tifed_models.targets(y[part], plan.dims[-1])
            models.append(tifed_models.train(g, feedback, x[part], t, c.lr_inv, c.batch, 1, layer))
        if c.mode == "full":
            g = tifed_models.aggregate(models)
        else:
            g = tifed_models.aggregate_layers(g, models, [plan.layers[i] for i in used])
    return g
