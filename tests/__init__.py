"""alptk tests."""
