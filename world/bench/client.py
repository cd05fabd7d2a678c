"""`agora bench client` (placeholder, replaced below)."""
import argparse
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--avatars", type=int, default=200)
    p.add_argument("--json", action="store_true")
def run(args):
    return 0
