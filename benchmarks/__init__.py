"""Figures, never pass/fail: each script prints medians of repeated runs and ratios to a baseline."""
