"""The arena: many architectures on the same data at an equal budget, profiled and reported side by side."""
