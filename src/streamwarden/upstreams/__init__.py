"""Async token sources: the simulated model and real upstream APIs."""
