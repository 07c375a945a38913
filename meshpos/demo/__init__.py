"""meshpos.demo: a whole venue on loopback addresses (``meshpos demo``)."""
