"""`python -m connector` is the `smtpauth` command."""

from connector.cli import main

main()
