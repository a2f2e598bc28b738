"""The command line: the composition root that wires the feature packages into `household` commands."""
