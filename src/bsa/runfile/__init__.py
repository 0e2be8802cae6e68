"""The run file: one SQLite database per run, its reader, its writer and its lock."""
