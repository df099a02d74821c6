"""`s3api demo`: drives the whole user flow against a server over plain HTTP."""
