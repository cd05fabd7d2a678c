"""AI avatar agents: perception -> memory -> brain -> actions, through the same paths as people."""
