"""Optional integrations with web frameworks; each imports its framework only when used."""

__all__: list[str] = []  # the integrations are its modules: contrib.django, .flask, .asgi
