"""The NumPy integer reference of TIFeD (algorithm.md), bit-exact with the
firmware in firmware/core/."""
from . import fleet
from .arena import arena_breakdown, arena_bytes, largest_hidden
from .arith import (INT32_MAX, INT32_MIN, WEIGHT_BITS, check_weight_bits, exact_matmul, pla_tanh, saturate_int32,
                    saturate_weights, trunc_div, weight_limits)
from .federated import aggregate, aggregate_layers, layer_groups
from .network import (MAX_LAYERS, Model, check_model_width, forward, parse_model, predict, targets, to_input,
                      train)
from .prng import feedback_matrices, feedback_range, feedback_stream, mix32

__all__ = [
    "INT32_MAX", "INT32_MIN", "MAX_LAYERS", "Model", "WEIGHT_BITS", "aggregate", "aggregate_layers",
    "arena_breakdown", "arena_bytes", "check_model_width", "check_weight_bits", "exact_matmul",
    "feedback_matrices", "feedback_range", "feedback_stream", "fleet", "forward", "largest_hidden",
    "layer_groups", "mix32", "parse_model", "pla_tanh", "predict", "saturate_int32", "saturate_weights",
    "targets", "to_input", "train", "trunc_div", "weight_limits",
]
