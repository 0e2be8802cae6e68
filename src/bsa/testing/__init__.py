"""Test doubles for bsa-bench: local stand-ins for the services a benchmark run talks to.

Nothing here is imported by the ``bsa`` command; the test suite and the performance benchmark use
these modules so that they never need the network or an API key.
"""
