"""Benchmarks of hyena against peers: `python -m benches` (outside tests/, so pytest skips them)."""
