"""ljspeech: being written."""
