"""The page a person uses (``/``): static HTML, CSS and a little JavaScript that call the
HTTP API of the same process from the browser. Nothing here reaches below the API."""
