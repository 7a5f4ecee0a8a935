# Sourced by every recipe's path.sh (with MAIN_ROOT set): activates tools/venv and the recipe utilities.
if [ ! -x "${MAIN_ROOT}/tools/venv/bin/alptk" ]; then
    echo "alptk is not installed: run 'make install' in ${MAIN_ROOT}" >&2
    return 1
fi
. "${MAIN_ROOT}/tools/venv/bin/activate"
export PATH="${MAIN_ROOT}/recipes/utils:${PATH}"
export PYTHONUTF8=1
