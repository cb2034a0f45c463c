"""Input logs and replay verification: every score is what the racer's inputs drive."""
