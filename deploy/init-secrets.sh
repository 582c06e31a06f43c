#!/bin/sh
# Create secrets/*.env from deploy/secrets/*.env.example, each change-me placeholder replaced by
# a random value (files that exist are kept). Run from the repository root:
#     sh deploy/init-secrets.sh
# HF_TOKEN stays empty: paste your token into secrets/hf.env for gated weights.
set -eu
mkdir -p secrets
chmod 700 secrets
for example in deploy/secrets/*.env.example; do
  target="secrets/$(basename "$example" .example)"
  if [ -e "$target" ]; then
    echo "kept $target"
    continue
  fi
  umask 077
  while IFS= read -r line; do
    case "$line" in
      *change-me*)
        random=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
        printf '%s\n' "$line" | sed "s/change-me[A-Za-z0-9-]*/$random/" ;;
      *) printf '%s\n' "$line" ;;
    esac
  done < "$example" > "$target"
  echo "wrote $target"
done
