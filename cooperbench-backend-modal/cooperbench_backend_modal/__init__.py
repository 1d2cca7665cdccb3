"""Modal sandboxes for CooperBench"""
