"""hyena: append-only, mmap-backed columnar time-series engine."""
