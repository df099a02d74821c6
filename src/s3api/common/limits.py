"""Limits that are part of the HTTP contract itself, whatever the plan."""

MAX_ITEMS_PER_JOB = 200
"""No job holds more items than this (plans may allow fewer)."""
