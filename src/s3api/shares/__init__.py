"""Customer share links: an expiring, revocable public page of a finished job's pairs."""
