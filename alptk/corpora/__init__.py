"""Corpus preparation: one function per corpus writing Kaldi data directories (``alptk data prepare``)."""
