from .se import SqueezeExcitation

__all__ = ['SqueezeExcitation']
