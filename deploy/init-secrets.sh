#!/bin/sh
# Create secrets/NAME from deploy/secrets/NAME.example, each change-me placeholder replaced by a
# random value (files that exist are kept). Run from the repository root:
#     sh deploy/init-secrets.sh
# hf_token stays empty: paste your token into secrets/hf_token for gated weights.
#
# secrets/ is private to you (0700); the files in it are readable (0644) because compose
# bind-mounts each one into containers that run as other users (redis, flower, uid 10001).
set -eu
mkdir -p secrets
chmod 700 secrets
for example in deploy/secrets/*.example; do
  target="secrets/$(basename "$example" .example)"
  if [ -e "$target" ]; then
    echo "kept $target"
    continue
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      *change-me*)
        random=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
        printf '%s\n' "$line" | sed "s/change-me[A-Za-z0-9-]*/$random/" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done < "$example" > "$target"
  chmod 644 "$target"
  echo "wrote $target"
done
