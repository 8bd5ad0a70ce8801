from ftbench.math.task import MathTask

__all__ = ["MathTask"]
