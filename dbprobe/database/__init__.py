"""The database under test: the URL a user names (``url``), the engine built for it (``engine``)."""
