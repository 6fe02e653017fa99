"""QNeko-HW package."""
