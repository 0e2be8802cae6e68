"""Scoring: from verdicts to figures, comparisons, leaderboards and the published table."""
