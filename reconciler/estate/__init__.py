"""The estate language: YAML with positions, the file models and the sections services add,
cross-file validation into a normalised catalog, and compilation to resources. It names no
service: services extend it through their sections, overrides and compile hooks."""
