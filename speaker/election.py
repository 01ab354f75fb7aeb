"""L2 leader election: which node announces each address (pure; see metallb.md section 4.2)."""
