"""librispeech: being written."""
