"""The two stateful components of the original design, as database-backed classes."""
