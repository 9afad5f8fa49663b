"""The lead store: schema (``schema``), database selection and migrations (``db``), and the
allowlist from language names to SQL (``fields``). See docs/operations.md."""
