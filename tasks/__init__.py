"""Axion Build: the doit task creators and the library they call."""
