"""Board plug-ins: one per backend (base.py is the interface, registry.py maps
--board names to them)."""
