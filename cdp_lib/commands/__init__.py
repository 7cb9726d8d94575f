"""CLI subcommands, one module per noun; each defines `register(group)`."""
