"""Email: templates, tracked links, MIME messages (render), and signed tracking tokens."""
