"""TIFeD harness."""
