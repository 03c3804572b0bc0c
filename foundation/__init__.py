"""foundation: what every layer stands on.

Errors (the tree is drawn in `errors`), settings (leadsync.toml), moments (dates as the CLI
reads them and the cache writes them) and clean shutdown on signals. Imports nothing of
leadsync's outside this package.
"""
