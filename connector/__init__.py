"""connector: talking to HubSpot and nothing else.

The client (the only module that imports `hubspot`), rate limits, failure classification,
pull, associations, push, setup and the offline export loader. May import `cache`,
`mappings`, `scoring` (pure values only) and `foundation`; never `analysis`, `flows` or `webhooks`.
"""
