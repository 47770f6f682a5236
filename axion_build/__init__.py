"""Axion Build: the library the doit stages in `tasks/` call.

Layers, the import arrows running one way (stages → library → adapters):
config (what the user declared), build (compiled modules, images), publish (registry),
deploy (deploy files), records (what each run did), adapters (outside systems).
"""
