"""merkit: objective-class micro-expression recognition, reproducibly."""

__version__ = "0.1.0"
