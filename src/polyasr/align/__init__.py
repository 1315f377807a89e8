"""TODO docstring for align."""
