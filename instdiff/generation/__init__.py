"""The generation stage: conditioning, the sampler, the pipeline, the refiner and the shard runner."""
