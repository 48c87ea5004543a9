"""``python -m pl_powerlaw``: see :mod:`pl_powerlaw.cli`."""

from pl_powerlaw.cli import main

if __name__ == "__main__":
    main()
