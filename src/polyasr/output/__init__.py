"""TODO docstring for output."""
