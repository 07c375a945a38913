"""meshpos: registers and kitchen displays that keep selling and syncing over the LAN."""

from meshpos.errors import MeshposError

__all__ = ["MeshposError", "__version__"]
__version__ = "0.2.0"
