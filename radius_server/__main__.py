"""Allow ``python -m radius_server``."""

from radius_server.cli import main

raise SystemExit(main())
