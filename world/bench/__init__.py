"""`agora bench` subcommands: benchmarks that print a table and a ratio against a baseline
measured in the same run. Never run as timed tests."""
