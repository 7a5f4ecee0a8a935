"""Kaldi data directories, audio, features and tokenizers."""
