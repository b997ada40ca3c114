"""The federated round without any transport (algorithm.md "Federated
schedule"): the global model, checks, aggregation, quorum and drop rules,
and the round's results.json entry. `tifed run` (server/, threads over board
workers) and Flower (flower/, messages over nodes) only move updates and
events in and out of it."""
