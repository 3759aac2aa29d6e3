"""`dmg-bmi config-builder [--kind train|bmi] [--port N] [--no-browser] [FILE]`: a local web page to build
and check run and BMI init configs (`dmg_bmi.builder`)."""

from __future__ import annotations

import argparse
import time
import webbrowser
from pathlib import Path

HELP = "open a local web page that builds a run or BMI init config, checks it and saves it as YAML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path, default=None,
                        help="config to open (its kind is told from its keys), or a new file to save to; "
                             "default: start from the quickstart template, save to config.yaml")
    parser.add_argument("--kind", choices=("train", "bmi"), default="train",
                        help="what a new FILE (or no FILE) starts as: a run config (train, the default) or a "
                             "BMI init config (bmi); an existing FILE's kind is told from its keys")
    parser.add_argument("--port", type=int, default=8765,
                        help="port on 127.0.0.1 (default 8765; 0: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="only print the address")


def run(args: argparse.Namespace) -> int:
    from dmg_bmi.builder.server import Builder, serve, url

    builder = Builder(Path.cwd(), args.file, args.kind)
    server = serve(builder, args.port)
    address = url(server)
    print(f"config builder at {address} (127.0.0.1 only; saves go to {builder.folder} unless you give "
          "another folder); Ctrl-C stops it", flush=True)
    if not args.no_browser:
        webbrowser.open_new_tab(address)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.shutdown()
    return 0
