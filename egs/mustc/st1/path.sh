# Activates alptk's environment for this recipe (ALPTK_ROOT overrides where alptk lives).
MAIN_ROOT=${ALPTK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
. "${MAIN_ROOT}/tools/activate.sh"
