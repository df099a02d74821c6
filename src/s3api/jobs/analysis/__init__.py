"""Analyses: segmentation of a job's photos before execute, stored and chosen per instance.

`keys`, `schemas`, `repository`, `selection` and `messages` are the data layer, which the
jobs core may import; `lifecycle`, `service` and `routes` build on the jobs core.
"""
