"""``python -m jobs.cli``: the same command line as the ``certpush`` console script."""

from jobs.cli import main

if __name__ == "__main__":
    main()
