"""Google Cloud VM sandboxes for CooperBench"""
