"""`python -m s3api`."""

from s3api.cli import main

main()
