"""TODO docstring for engine."""
