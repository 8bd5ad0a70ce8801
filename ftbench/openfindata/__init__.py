"""OpenFinData: Chinese financial-scenario questions (East Money / OpenCompass)."""
