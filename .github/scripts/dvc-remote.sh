#!/usr/bin/env bash
# Can this job use the project's DVC remote (data, model and the package store)?
# Writes usable=true|false to $GITHUB_OUTPUT; when false, a notice says why and the workflow skips
# its remote steps instead of failing:
#   * no default remote in .dvc/config (`dvc remote add -d NAME URL`);
#   * an S3 remote (s3://, S3-compatible ones included) with no credentials in this job: neither the
#     secrets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY nor the variable AWS_ROLE_ARN (OIDC).
# Other remote types read their own credentials from the environment (docs/guide/ci.md, "Credentials").
set -euo pipefail

usable() {
  echo "usable=$1" >> "${GITHUB_OUTPUT:-/dev/stdout}"
}

if ! remote="$(dvc remote default 2> /dev/null)"; then
  echo "::notice title=DVC remote::no default DVC remote in .dvc/config: the steps that pull or push data, the model and the package are skipped"
  usable false
  exit 0
fi
url="$(dvc config "remote.${remote}.url")"
if [[ "${url}" == s3://* && -z "${AWS_ACCESS_KEY_ID:-}" && -z "${AWS_ROLE_ARN:-}" ]]; then
  echo "::notice title=DVC remote::remote '${remote}' (${url}) has no credentials in this job: set the repository secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the variable AWS_ROLE_ARN for OIDC; the steps that pull or push data, the model and the package are skipped"
  usable false
  exit 0
fi
echo "DVC remote '${remote}': ${url}"
usable true
