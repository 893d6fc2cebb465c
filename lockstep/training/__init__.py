"""Code checks and packaging for the compliance-training workflow (no model involved)."""
