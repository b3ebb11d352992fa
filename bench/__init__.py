"""The benchmark harness: the project's order throughput and latency against the engine's own floor.

Run it with `make bench` (or `python -m bench --help`); figures go to `bench/results/`.
"""
