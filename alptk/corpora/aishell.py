"""aishell: being written."""
