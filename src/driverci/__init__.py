"""driverci: third-party driver CI for OpenStack Ironic, measured and made real."""

__version__ = "0.1.0"
