"""``python -m rlgen`` runs the command-line tool."""

from rlgen.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
