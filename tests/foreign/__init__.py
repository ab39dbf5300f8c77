"""Data from sources this project did not write, for testing it as a real company would use it."""
