"""The HTTP API and the agents' console (FastAPI), over the actions library.

- :func:`~stream_guard.api.app.create_app` — the app, from the settings and the tokens;
- :mod:`~stream_guard.api.auth` — bearer tokens, roles and what each may do;
- :mod:`~stream_guard.api.tokens` — the token format and its salted scrypt hash;
- :mod:`~stream_guard.api.config` — :class:`~stream_guard.api.config.ApiConfig`, the settings'
  ``api`` table (plain pydantic: ``settings.py`` imports it without FastAPI);
- ``routes/`` — one module per concern; ``console/`` — the console's static page.

Nothing is imported here, so that ``settings.py`` can read :mod:`~stream_guard.api.config`
without loading FastAPI.
"""
