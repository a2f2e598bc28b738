"""Retrains the classifier (LoRA) from the dataset plus feedback, and evaluates it honestly."""
