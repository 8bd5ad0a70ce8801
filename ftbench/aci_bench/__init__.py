"""ACI-Bench: doctor-patient dialogue to clinical visit note."""
