"""SST-2: binary sentiment of movie-review sentences (GLUE)."""
