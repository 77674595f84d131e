"""Speed benchmarks: each script compares the engine with a baseline run side by side and prints ratios."""
