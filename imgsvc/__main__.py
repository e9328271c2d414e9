"""`python -m imgsvc`: the same as the `imgsvc` command."""

from imgsvc.cli import main

main()
