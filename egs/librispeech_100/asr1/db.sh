# Where LibriSpeech lives: the directory its openslr.org/12 archives were unpacked into (it holds LibriSpeech/,
# with one folder per subset), with the LM text librispeech-lm-norm.txt.gz (openslr.org/11) beside LibriSpeech/,
# still gzipped. Leave empty to download them into downloads/ (stage 1, local/download.sh).
LIBRISPEECH=
