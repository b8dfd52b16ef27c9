"""The former name of :mod:`sslbook.recipes`, kept so that the command recorded in
chapter 5's shipped checkpoints (``python -m sslbook.project --out ...``) still runs."""

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
