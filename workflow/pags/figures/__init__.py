"""Figures: pure functions from tables and tensors to matplotlib figures."""
