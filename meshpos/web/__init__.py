"""meshpos.web: a node's local HTTP server — JSON API for register apps and pages for people."""
