"""Output: files written atomically, the terminal, exports and the HTML reports."""
