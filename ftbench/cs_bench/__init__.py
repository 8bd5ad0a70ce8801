"""CS-Bench: computer-science knowledge and reasoning questions (English set)."""
