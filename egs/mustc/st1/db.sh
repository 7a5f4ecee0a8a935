# Where MuST-C v1 en-de lives: the folder holding MUSTC_v1.0_en-de.tar.gz (local/download.sh unpacks it there)
# and/or the en-de/ folder it unpacks to. A relative path is relative to this recipe directory.
MUSTC=downloads
