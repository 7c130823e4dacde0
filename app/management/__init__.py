"""Management concern: probes and metrics on a listener of their own (contract sec. 17)."""
from .listener import ManagementServer, bind_management_socket, management_only

__all__ = ["ManagementServer", "bind_management_socket", "management_only"]
