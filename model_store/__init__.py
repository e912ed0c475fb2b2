"""The BentoML model store: `versions` (torch-free: names, "best", metadata) and `store`
(import of checked artifacts, loading them back checked)."""
