"""Shared core of the household assistant: settings, taxonomy, model loading and the CLI."""
