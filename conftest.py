"""Root pytest configuration: what doctest collection must not import."""

collect_ignore = ["voip_core/__main__.py", "noxfile.py", "bench"]
