# Sourced by the launchers beside this file: picks the Python that has the project's
# packages, in this order: PULUMI_RUNTIME_VIRTUALENV, the active VIRTUAL_ENV, a .venv in
# the working directory (the project's, by rft-env's convention), then python3 on PATH.
select_python() {
    for venv in "${PULUMI_RUNTIME_VIRTUALENV:-}" "${VIRTUAL_ENV:-}" "$PWD/.venv"; do
        if [ -n "$venv" ] && [ -x "$venv/bin/python" ]; then
            echo "$venv/bin/python"
            return
        fi
    done
    command -v python3 || command -v python
}
