"""``python -m ecad``: the ``ecad`` command."""

from ecad.cli.main import main

main()
