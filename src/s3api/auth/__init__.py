"""Anonymous sign-in."""
