"""``python -m stream_guard``: the ``stream-guard`` command line."""

from stream_guard.cli import main

if __name__ == "__main__":
    main()
