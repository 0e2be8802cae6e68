"""The benchmark's data: the dataset and its sources, items, selection, the official assets."""
