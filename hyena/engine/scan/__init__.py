"""Scans: validate a request, prune partitions, evaluate filters with kernels, gather."""
