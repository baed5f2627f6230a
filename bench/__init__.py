"""Benchmarks: webhook speed against bare Flask, and the call log at a million calls (`make bench`)."""
