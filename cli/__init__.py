"""``v2m``: the command line (:mod:`cli.main`), the top layer: it may import the API, the
services and ``ml/``; nothing imports it."""
