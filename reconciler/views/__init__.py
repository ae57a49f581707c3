"""Views of a plan (Terraform-style text, JSON, Markdown for pull requests), all rendered from
the same ``Plan`` object."""
