"""The mini-swe-agent agent for CooperBench"""
