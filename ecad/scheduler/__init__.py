"""The long-running search driver: ask -> dispatch -> collect -> tell -> checkpoint.

"Scheduler" here always means this service; the diffusers noise scheduler is the *sampler*.
"""
