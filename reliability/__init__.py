"""Reliability checks against a real `bentoml serve`: `make reliability` (long), tests (short)."""
