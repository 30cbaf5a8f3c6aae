"""``python -m zeroauth.cli``."""

from zeroauth.cli.app import main

main()
