"""Neural style transfer: `fast_style`; Gatys optimisation and temporally consistent video beside it.

No re-exports: import a model from its own module, `genzoo.models.style.<model>`.
"""
