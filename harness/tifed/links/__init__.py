"""Byte links to devices: opening them (pyserial URLs), their settings, and the fault:// injector."""
