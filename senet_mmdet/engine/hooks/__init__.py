from .dump_metrics_hook import DumpMetricsHook

__all__ = ['DumpMetricsHook']
