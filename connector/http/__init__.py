"""HTTP plumbing: the one client every Graph and Exchange call goes through."""
