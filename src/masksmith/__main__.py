"""``python -m masksmith``: the same as the ``masksmith`` command."""

from masksmith.cli.main import main

if __name__ == "__main__":
    main()
