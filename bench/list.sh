#!/usr/bin/env bash
# rld --list against glibc's ld.so --list on the corpus (issue 2's benchmark).
exec "$(dirname "$0")/compare.py" --mode list --callgrind "$@"
