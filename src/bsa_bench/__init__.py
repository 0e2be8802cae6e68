"""The inspect_ai namespace of bsa-bench: ``inspect eval bsa_bench/bsa``.

inspect_ai names a task after the top-level package that defines it, so the task is declared in
this package (in :mod:`bsa_bench._registry`, which the ``inspect_ai`` entry point loads) and built
by :func:`bsa.interop.inspect_task.bsa_task`. Importing this package imports nothing else.
"""
