"""Property-based and differential tests (Hypothesis), run with ``-m property``."""
