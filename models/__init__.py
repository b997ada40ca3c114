"""TIFeD reference."""
