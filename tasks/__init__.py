"""The doit task creators, one module per stage; each only computes task dicts.

validate → keys → config → base → compile → image → push → scaffold → deploy → report, and
pipeline, which runs them all for a package.
"""
