"""Judging: grade stored samples with the official judge prompts and read the verdicts."""
