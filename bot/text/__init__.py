"""Text primitives: sentences with offsets, token-aware chunks, LaTeX clean-up, injection
filtering."""
