"""`custom`: a user's own task, read from files (no code)."""
