"""The NumPy integer reference of TIFeD (algorithm.md), bit-exact with the
firmware in firmware/core/."""
from . import fleet
from .arena import arena_breakdown, arena_bytes
from .arith import INT32_MAX, INT32_MIN, exact_matmul, pla_tanh, saturate_int32, trunc_div
from .federated import aggregate, aggregate_layers, layer_groups
from .network import MAX_LAYERS, Model, forward, parse_model, predict, targets, to_input, train
from .prng import feedback_matrices, feedback_range, feedback_stream, mix32

__all__ = [
    "INT32_MAX", "INT32_MIN", "MAX_LAYERS", "Model", "aggregate", "aggregate_layers",
    "arena_breakdown", "arena_bytes", "exact_matmul", "feedback_matrices", "fleet", "feedback_range",
    "feedback_stream", "forward", "layer_groups", "mix32", "parse_model", "pla_tanh", "predict",
    "saturate_int32", "targets", "to_input", "train", "trunc_div",
]
