"""Development tools shared by tests, benchmarks and reliability checks."""
