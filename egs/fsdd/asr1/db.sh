# Where the Free Spoken Digit Dataset lives: a checkout of github.com/Jakobovski/free-spoken-digit-dataset
# (or its recordings/ folder). Leave empty to use ../shared/data/fsdd beside the alptk checkout if it exists,
# or else to clone the repository into downloads/ (stage 1).
FSDD=
