"""A HubSpot-compatible local portal: seeded data over real HTTP, rate limits, faults and a
signed-webhook emitter. Imports nothing else from leadsync.

    from sandbox import Sandbox
    with Sandbox(contacts=2000, seed=7) as sb:
        client = hubspot.Client.create(access_token=sb.token, host=sb.base_url)
"""
from .errors import ApiError, PortInUseError, SandboxError
from .server import Sandbox, serve

__all__ = ["ApiError", "PortInUseError", "Sandbox", "SandboxError", "serve"]
