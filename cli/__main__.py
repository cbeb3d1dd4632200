"""``python -m cli``: the ``v2m`` command without the installed script."""

from cli.main import main

main()
