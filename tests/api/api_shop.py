"""The key the API tests send (the shop fixture's settings accept it)."""

HEADERS = {"X-API-Key": "k-test-0123456789"}
