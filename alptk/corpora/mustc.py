"""mustc: being written."""
