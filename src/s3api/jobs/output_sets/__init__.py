"""Output sets: the package a job's template asks for, assembled once the job ends.

`keys`, `schemas`, `plan`, `variants`, `repository`, `messages` and `views` are the data
layer, which the jobs core may import; `lifecycle`, `service` and `routes` build on the jobs
core.
"""
