"""flows: what one command does when it joins several concerns.

`sync` (pull → score → push under one lock, recorded), `demo` (the whole loop on a sandbox)
and `status` (what the cache knows). May import `connector`, `analysis`, `cache`, `scoring`,
`mappings` and `foundation`; never `webhooks` or `cli`.
"""
