"""Docker sandboxes for CooperBench"""
