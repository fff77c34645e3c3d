#!/usr/bin/env bash
# Builds the image and proves it runs, on a machine with a Docker engine (the project's CI has none):
# build, start one single-node container, wait for its HEALTHCHECK to report healthy, probe /healthz, /readyz and
# /metrics, then `docker stop` it and require exit code 0 (the relay drained on SIGTERM rather than being killed).
#   deploy/docker/build-and-smoke.sh [TAG]          # default wecom-relay:smoke
set -euo pipefail
cd "$(dirname "$0")/../.."

tag="${1:-wecom-relay:smoke}"
name="wecom-relay-smoke-$$"
docker build -f deploy/docker/Dockerfile -t "$tag" \
  --build-arg REVISION="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" .

cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# Placeholder credentials: the node starts, serves and is ready without reaching WeCom.
docker run -d --name "$name" -p 127.0.0.1::8080 -p 127.0.0.1::9464 \
  -e WECOM_CORPID=wwsmoke0000000000 -e WECOM_APP_SECRET=smoke-secret -e WECOM_TOKEN=smoketoken \
  -e WECOM_ENCODING_AES_KEY=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG -e WECOM_OPEN_KFID=wksmoke \
  -e RELAY_AUTH_SECRET=smoke-relay-secret-0123456789 -e WECOM_API_BASE=http://127.0.0.1:9 \
  "$tag" >/dev/null
http="http://$(docker port "$name" 8080/tcp | head -n1)"

status=starting
for _ in $(seq 1 60); do
  status="$(docker inspect -f '{{.State.Health.Status}}' "$name")"
  [ "$status" = healthy ] && break
  sleep 1
done
[ "$status" = healthy ] || { docker logs "$name"; echo "smoke: container is $status, not healthy" >&2; exit 1; }

curl -fsS "$http/healthz" && echo
curl -fsS "$http/readyz" && echo
metrics="$(docker port "$name" 9464/tcp 2>/dev/null | head -n1 || true)"
curl -fsS "http://${metrics:-${http#http://}}/metrics" | grep -q '^relay_build_info' \
  || curl -fsS "$http/metrics" | grep -q '^relay_build_info'
echo "smoke: user $(docker exec "$name" id -u), PID 1 is $(docker exec "$name" cat /proc/1/comm)"
docker stats --no-stream --format 'smoke: memory {{.MemUsage}}' "$name"
docker image ls --format 'smoke: image {{.Repository}}:{{.Tag}} {{.Size}}' "$tag"

docker stop -t 30 "$name" >/dev/null
code="$(docker inspect -f '{{.State.ExitCode}}' "$name")"
docker logs "$name" 2>&1 | grep -q draining || { echo "smoke: no drain logged" >&2; exit 1; }
[ "$code" = 0 ] || { docker logs "$name"; echo "smoke: exit code $code after SIGTERM, expected 0" >&2; exit 1; }
echo "smoke: $tag passed (healthy, probes answer, drained and exited 0 on SIGTERM)"
