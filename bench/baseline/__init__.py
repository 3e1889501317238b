"""Frozen copies of code paths the benchmarks compare against (the implementation before a rewrite), kept so a
benchmark measures today's code and yesterday's in the same run, and tests can check both give the same output."""
