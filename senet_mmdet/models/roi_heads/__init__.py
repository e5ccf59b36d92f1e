from .se_res_layer import SEResLayer

__all__ = ['SEResLayer']
