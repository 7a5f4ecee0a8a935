# Where AISHELL-1 lives: the folder that holds data_aishell/ (as openslr.org/resources/33's data_aishell.tgz
# unpacks, its per-speaker wav/*.tar.gz archives extracted too), or data_aishell itself.
# Leave empty to download it into downloads/ (stage 1: local/download.sh; 15 GB).
AISHELL=
