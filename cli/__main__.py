"""``python -m cli``: the ``mlcycle`` command without its installed script."""

from cli.main import main

main()
