"""cache: the SQLite file where everything leadsync knows lives.

Connection and migrations (`database`, `schema`), the run lock, the readers that hand rows to
the scorers, the stored property catalog, score history, and the webhook inbox. May import
`scoring`, `mappings` and `foundation`; never `connector` or anything above it.
"""
