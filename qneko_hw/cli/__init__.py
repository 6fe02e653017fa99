"""Command-line interface; the only layer that wires twins, drivers and routines together."""
