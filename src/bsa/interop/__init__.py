"""Other harnesses: BSA as an inspect_ai task, and inspect_ai logs read into run files."""
