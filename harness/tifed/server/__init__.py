"""The federated-learning server: schedule, per-device workers, the loop."""
