"""Firmware images: building them with make, reading their size and symbols."""
