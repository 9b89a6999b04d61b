"""Benchmarks: LFW verification accuracy of every FR model (more to come)."""
