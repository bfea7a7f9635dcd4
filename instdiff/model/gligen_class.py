"""Where diffusers keeps GLIGEN's pipeline class: one import for the generator (instdiff/generation/gligen.py) and
the tiny stand-in's writer (instdiff/model/tiny_gligen.py), on the model floor so that neither climbs."""

import warnings


def gligen_pipeline_class():
    """diffusers' StableDiffusionGLIGENPipeline (moved to ``pipelines/deprecated/`` in diffusers 0.34+; the top-level
    import still works at the pinned version, tests/unit/test_gligen.py checks it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from diffusers import StableDiffusionGLIGENPipeline
    return StableDiffusionGLIGENPipeline
