"""Cost and tokens: prices per model, what a run has spent, and what the rest of it will cost.

:mod:`bsa.costs.prices` reads prices (flags, a price file, the run file's record of them);
:mod:`bsa.costs.spend` turns a run's stored token usage into cost so far, split model / judge;
:mod:`bsa.costs.estimate` predicts the calls, tokens, cost and time of what a run still lacks.
"""
