"""The one HTTP server: the Starlette app and its middleware, ``switchboard serve``, ``/healthz`` and ``/metrics``.

Modules import one another directly; the face for other code is ``bot`` itself.
"""
