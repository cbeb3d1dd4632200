"""v2m command line."""

def main() -> None:
    raise SystemExit("not yet")
