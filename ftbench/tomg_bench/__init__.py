"""TOMG-Bench (S²-Bench): text-based open molecule generation."""
