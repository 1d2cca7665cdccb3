"""An example third-party CooperBench agent; the template for plugin authors"""
