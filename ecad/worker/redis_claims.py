"""Compare-and-set scripts for a claim held in Redis as ``key -> token`` with an expiry.

Every claim of the cluster (a worker's GPU lease, a running shard copy's claim, a scheduler's
search lease) is taken with ``SET key token NX PX ms`` and changed only by its holder: these
scripts touch the key only while it still holds the caller's token.
"""

from __future__ import annotations

__all__ = ["RELEASE_IF_OURS", "RENEW_IF_OURS"]

#: ``KEYS[1]``, ``ARGV[1]`` token, ``ARGV[2]`` milliseconds: 1 extended, 0 someone else's or gone.
RENEW_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
#: ``KEYS[1]``, ``ARGV[1]`` token: 1 deleted, 0 someone else's or gone.
RELEASE_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
