# Sourced by the shell tools in Tools/: their usage is the comment block at the top of the script itself ($0).
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

# check_args MIN "$@": -h or --help prints the usage and exits 0; fewer than MIN arguments print it to stderr and
# exit 64.
check_args() {
    min=$1
    shift
    if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
        usage
        exit 0
    fi
    if [ $# -lt "$min" ]; then
        usage >&2
        exit 64
    fi
}
