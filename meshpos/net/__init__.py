"""meshpos.net: websockets transport (mTLS) and zeroconf discovery."""
