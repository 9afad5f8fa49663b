"""End-to-end tests: the engine's commands, its tracking server, a real SMTP server and a real
browser, together on loopback."""
