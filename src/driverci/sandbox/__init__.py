"""The rehearsal: Gerrit with real Ironic, the reference CI for redfish, pushes, the judge."""
