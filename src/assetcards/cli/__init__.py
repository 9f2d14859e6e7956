"""The `cards` command line: thin click commands over the library."""
