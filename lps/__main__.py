"""``python -m lps`` is the ``lps`` command (also for ``accelerate launch -m lps``)."""

from lps.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
