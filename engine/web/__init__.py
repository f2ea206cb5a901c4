"""The web layer shared by the decision service and the workbench.

``engine.web.errors`` holds the one error shape and the handlers that produce
it, ``engine.web.limits`` the body guard (size, media type, strict JSON) and
``engine.web.keys`` how a request presents its API key. Both applications
(``engine.service`` and ``engine.studio``) sit above this layer; it imports
neither of them.
"""
