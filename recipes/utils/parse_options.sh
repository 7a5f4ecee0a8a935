# Sourced by recipe scripts: turns `--name value` and `--name=value` into `name=value` for variables the
# script has already defined (dashes in names become underscores), as Kaldi's parse_options.sh does.
# An option with no such variable is an error. Leaves positional arguments in "$@".

_positional=()
while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h)
            sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
            exit 0 ;;
        --*=*) _name=${1%%=*}; _value=${1#*=}; shift ;;
        --*)
            if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
            _name=$1; _value=$2; shift 2 ;;
        *) _positional+=("$1"); shift; continue ;;
    esac
    _name=${_name#--}; _name=${_name//-/_}
    if ! declare -p "${_name}" >/dev/null 2>&1; then
        echo "$0: unknown option --${_name} (see $0 --help)" >&2; exit 1
    fi
    printf -v "${_name}" '%s' "${_value}"
done
set -- ${_positional[@]+"${_positional[@]}"}
unset _name _value _positional
