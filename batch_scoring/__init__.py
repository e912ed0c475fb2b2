"""Offline scoring with the served model: files (CSV, Parquet) and Spark DataFrames."""
