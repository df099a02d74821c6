"""The two hard-coded presets: which concepts a job or rule may name."""
