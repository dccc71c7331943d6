"""``mi-bridge``: firmware bridge tools (filled in by the bridge work)."""


def main(argv: list[str] | None = None) -> int:
    raise SystemExit("mi-bridge: not built yet")
