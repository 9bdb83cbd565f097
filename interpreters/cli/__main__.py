"""``python -m interpreters.cli``: the ``cim`` command line."""

from interpreters.cli.main import main

if __name__ == "__main__":
    main()
