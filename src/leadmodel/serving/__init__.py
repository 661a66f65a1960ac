"""The scoring API the CRM calls: a BentoML service around the library (``service`` extra).

A request goes through one module per step: :mod:`.service` (the routes and the BentoML
service), :mod:`.api` (the typed request and response models), :mod:`.scoring` (from a
validated request to the library's functions and back), with :mod:`.errors` (refusals
that name the field and the lead) and :mod:`.guard` (token, content type, size) around
them. Nothing here is imported by the rest of the package.
"""
