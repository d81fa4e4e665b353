"""Model families; each sub-package registers its models with `genzoo.registry.register_model`."""
