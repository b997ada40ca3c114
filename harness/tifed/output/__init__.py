"""A run's outputs: results.json and its plot, and what the console shows."""
