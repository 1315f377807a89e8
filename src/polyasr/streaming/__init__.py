"""TODO docstring for streaming."""
