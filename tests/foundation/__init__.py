"""Tests of the service foundation: envelope, auth, users, presets, rules, settings, CLI."""
