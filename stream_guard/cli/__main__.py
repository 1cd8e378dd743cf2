from stream_guard.cli import main

main()
