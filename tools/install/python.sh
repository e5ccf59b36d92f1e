#!/usr/bin/env bash
# The interpreter and the virtual environment of `make install` (and of
# `make install-torch21`).
#
#   tools/install/python.sh pick MIN MAX       print the interpreter to use
#   tools/install/python.sh venv DIR MIN MAX   make DIR a venv of it
#
# The interpreter is $PYTHON when set (it must run and be MIN..MAX), else the
# newest of python3.13 ... python3.10, python3 on PATH that runs and is
# MIN..MAX. A name on PATH need not run: a pyenv shim of a version pyenv has
# not selected exits with "command not found", so each is tried, not looked up.
#
# `venv` keeps DIR when it is usable: a venv whose python runs, is MIN..MAX
# and, when $PYTHON is set, is that Python's version. A finished venv (DIR/
# .installed, written last by the Makefile) that does not match is an error
# naming both Pythons and the fix: it holds a whole stack and is never deleted
# here. An unfinished one (a failed or interrupted install) that does not
# match, or whose python or pip does not run, is created again.
set -euo pipefail

usage() {
    echo "usage: $0 pick MIN MAX | venv DIR MIN MAX (e.g. pick 3.10 3.13)" >&2
    exit 2
}

# "3.12" -> 312, comparable as a number.
as_number() {
    local major=${1%%.*} minor=${1#*.}
    echo $((major * 100 + minor))
}

# The MAJOR.MINOR of interpreter $1, or nothing when it does not run.
version_of() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' \
        2> /dev/null || true
}

# The interpreter's own path: a pyenv shim resolves to a version only when
# run, so the venv is made from what the shim ran.
executable_of() {
    "$1" -c 'import sys; print(sys.executable)'
}

in_range() {
    local version=$1
    [ -n "$version" ] &&
        [ "$(as_number "$version")" -ge "$(as_number "$MIN")" ] &&
        [ "$(as_number "$version")" -le "$(as_number "$MAX")" ]
}

# Candidates, newest first: every python3.X of the range, then python3.
candidates() {
    local minor
    for ((minor = ${MAX#*.}; minor >= ${MIN#*.}; minor--)); do
        echo "python${MAX%%.*}.$minor"
    done
    echo python3
}

pick() {
    local version candidate tried=()
    if [ -n "${PYTHON:-}" ]; then
        version=$(version_of "$PYTHON")
        if [ -z "$version" ]; then
            echo "PYTHON=$PYTHON does not run. Name an installed Python" \
                "$MIN-$MAX (e.g. PYTHON=python$MAX), or leave PYTHON unset" \
                "to use the newest one on PATH." >&2
            exit 1
        fi
        if ! in_range "$version"; then
            echo "PYTHON=$PYTHON is Python $version; this stack supports" \
                "Python $MIN-$MAX. Name one of those (e.g." \
                "PYTHON=python$MAX)." >&2
            exit 1
        fi
        executable_of "$PYTHON"
        return
    fi
    for candidate in $(candidates); do
        command -v "$candidate" > /dev/null || continue
        version=$(version_of "$candidate")
        if in_range "$version"; then
            executable_of "$candidate"
            return
        fi
        tried+=("$candidate (${version:-does not run})")
    done
    echo "No supported Python found: this stack needs Python $MIN-$MAX." \
        "Found on PATH: ${tried[*]:-none of $(echo $(candidates))}." \
        "Install one (e.g. apt-get install python$MAX-venv, or pyenv" \
        "install $MAX) or name it: make install PYTHON=/path/to/python$MAX" >&2
    exit 1
}

create() {
    local dir=$1 python
    python=$(pick)
    echo "$dir: creating a virtual environment with $python" \
        "(Python $(version_of "$python"))"
    "$python" -m venv --clear "$dir"
}

venv() {
    local dir=$1 have want problem keep=""
    if [ ! -e "$dir" ]; then
        create "$dir"
        return
    fi
    have=$(version_of "$dir/bin/python")
    want=$have
    if [ -n "${PYTHON:-}" ]; then
        want=$(pick > /dev/null && version_of "$PYTHON")
    fi
    if [ -z "$have" ]; then
        problem="its python does not run"
    elif ! in_range "$have"; then
        problem="it was made by Python $have; this stack supports $MIN-$MAX"
    elif [ "$have" != "$want" ]; then
        problem="it was made by Python $have and PYTHON=$PYTHON is $want"
        keep=", or keep it: leave PYTHON unset (or PYTHON=python$have)"
    elif ! "$dir/bin/python" -m pip --version > /dev/null 2>&1; then
        problem="its pip does not run"
    else
        return 0
    fi
    if [ -e "$dir/.installed" ]; then
        echo "$dir cannot be used: $problem. It holds a finished install," \
            "which is not deleted for you: rm -rf $dir and run make again" \
            "to rebuild it${PYTHON:+ with $PYTHON}$keep." >&2
        exit 1
    fi
    echo "$dir: an unfinished install ($problem) is started over"
    create "$dir"
}

[ $# -ge 3 ] || usage
case $1 in
    pick)
        [ $# -eq 3 ] || usage
        MIN=$2 MAX=$3
        pick
        ;;
    venv)
        [ $# -eq 4 ] || usage
        MIN=$3 MAX=$4
        venv "$2"
        ;;
    *) usage ;;
esac
