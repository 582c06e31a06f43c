"""The scheduler: the long-running service that steps every active search's driver
(ask -> dispatch -> collect -> tell -> checkpoint).

"Scheduler" here always means this service; the diffusers noise scheduler is the *sampler*.
"""
