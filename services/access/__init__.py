"""Access to the operator console: the sessions revoked at logout, until they would have expired anyway."""
