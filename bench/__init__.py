"""The benchmarks: speed, cost and scale of each stage, side by side with the obvious alternative.

`python -m bench` (or `make bench`) runs every section and writes bench/results.json and
bench/results.md; see `python -m bench --help`.
"""
