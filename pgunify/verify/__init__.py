"""`pgunify verify`: the legacy and the migrated data layer, run side by side and compared."""
