"""TODO docstring for language."""
