"""Benchmarks: `make bench` (HTTP, against a baseline and a ceiling) and the model path."""
