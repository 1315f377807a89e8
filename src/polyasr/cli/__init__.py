"""TODO docstring for cli."""
