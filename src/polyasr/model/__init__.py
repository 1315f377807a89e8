"""TODO docstring for model."""
