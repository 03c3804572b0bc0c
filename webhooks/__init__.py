"""webhooks: HubSpot's deliveries in, rescored contacts out, within seconds.

The receiver (WSGI: verify the v3 signature, file in the inbox, answer 204), signatures,
triage (what each event asks for) and the worker, which runs the same flow as `sync` for a
few contacts. The top library layer: may import everything below it, never `cli`.
"""
