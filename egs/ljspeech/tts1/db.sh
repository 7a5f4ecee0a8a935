# Where LJSpeech 1.1 lives: its LJSpeech-1.1 directory as unpacked from the archive (metadata.csv and wavs/;
# https://keithito.com/LJ-Speech-Dataset/). Leave empty to use ../shared/data/LJSpeech-1.1 beside the alptk
# checkout if it exists, or else to download and unpack it into downloads/ (stage 1: 2.6 GB, local/download.sh).
LJSPEECH=
