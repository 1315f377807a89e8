"""TODO docstring for audio."""
