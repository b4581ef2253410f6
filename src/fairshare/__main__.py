"""``python -m fairshare`` runs the CLI."""

from fairshare.cli.main import main

main()
