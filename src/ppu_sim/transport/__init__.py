"""The wire: the ASGI front door, transport faults, credential checks and the uvicorn server."""
