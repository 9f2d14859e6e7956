"""Git stores on disk: their state, checkouts, sync, add/remove/pin, lock files, history."""
