"""The Gradio demo's pieces: strings, formatting, plots, thresholds, samples and event handlers."""
