"""TODO docstring for evaluation."""
