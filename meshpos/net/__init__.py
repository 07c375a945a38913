"""meshpos.net: the one websocket stack (``wsconn`` opens, ``channel`` runs), the link interface
(``port``), the mesh's mTLS links and zeroconf discovery."""
